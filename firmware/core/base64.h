// RFC 4648 base64 (standard alphabet, '=' padding, no line breaks), streamed: large payloads
// (the 1960-byte feature vector) are encoded piece by piece into a small output buffer.
#ifndef KWS_CORE_BASE64_H_
#define KWS_CORE_BASE64_H_

#include <cstddef>
#include <cstdint>

namespace kws {

// Characters needed to encode `len` bytes.
constexpr size_t Base64Length(size_t len) { return ((len + 2) / 3) * 4; }

// Encodes `len` bytes into `out` (capacity `cap`, no terminator written). Returns the
// characters written, or 0 when `cap` < Base64Length(len) (nothing is written then).
size_t Base64Encode(const uint8_t* data, size_t len, char* out, size_t cap);

}  // namespace kws

#endif  // KWS_CORE_BASE64_H_
