// Firmware version reported by m-boot/m-id (the model is identified separately by sha256).
// The firmware build appends its provenance as semver build metadata,
// "+g<git sha>[.dirty].<UTC build time>" (-DKWS_BUILD_STAMP from firmware/build_stamp.sh):
// stamped where firmware is built, never in the pipeline's export.
#ifndef KWS_CORE_VERSION_H_
#define KWS_CORE_VERSION_H_

#ifndef KWS_BUILD_STAMP
#define KWS_BUILD_STAMP ""  // a build that did not stamp (e.g. the unit tests)
#endif

namespace kws {
constexpr const char* kFirmwareVersion = "1.0.0" KWS_BUILD_STAMP;
}  // namespace kws

#endif  // KWS_CORE_VERSION_H_
