// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): the same value as Python's zlib.crc32.
#ifndef KWS_CORE_CRC32_H_
#define KWS_CORE_CRC32_H_

#include <cstddef>
#include <cstdint>

namespace kws {

// Incremental form: start with crc = 0, feed chunks, the result is the CRC of the whole.
uint32_t Crc32Update(uint32_t crc, const uint8_t* data, size_t len);

inline uint32_t Crc32(const uint8_t* data, size_t len) { return Crc32Update(0, data, len); }

}  // namespace kws

#endif  // KWS_CORE_CRC32_H_
