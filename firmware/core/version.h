// Firmware version reported by m-boot/m-id (the model is identified separately by sha256).
#ifndef KWS_CORE_VERSION_H_
#define KWS_CORE_VERSION_H_

namespace kws {
constexpr const char* kFirmwareVersion = "1.0.0";
}  // namespace kws

#endif  // KWS_CORE_VERSION_H_
