#include "base64.h"

namespace kws {
namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

size_t Base64Encode(const uint8_t* data, size_t len, char* out, size_t cap) {
  const size_t need = Base64Length(len);
  if (cap < need) return 0;
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out[o++] = kAlphabet[(v >> 18) & 63u];
    out[o++] = kAlphabet[(v >> 12) & 63u];
    out[o++] = kAlphabet[(v >> 6) & 63u];
    out[o++] = kAlphabet[v & 63u];
  }
  const size_t rest = len - i;
  if (rest > 0) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (rest == 2) v |= uint32_t{data[i + 1]} << 8;
    out[o++] = kAlphabet[(v >> 18) & 63u];
    out[o++] = kAlphabet[(v >> 12) & 63u];
    out[o++] = rest == 2 ? kAlphabet[(v >> 6) & 63u] : '=';
    out[o++] = '=';
  }
  return o;
}

}  // namespace kws
