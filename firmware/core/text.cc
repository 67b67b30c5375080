#include "text.h"

#include <cstring>

namespace kws {

void LineWriter::Flush() {
  if (len_ > 0) transport_.Write(reinterpret_cast<const uint8_t*>(buf_), len_);
  len_ = 0;
}

LineWriter& LineWriter::Char(char c) {
  if (len_ == sizeof(buf_)) Flush();
  buf_[len_++] = c;
  return *this;
}

LineWriter& LineWriter::Bytes(const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) Char(s[i]);
  return *this;
}

LineWriter& LineWriter::Str(const char* s) { return Bytes(s, std::strlen(s)); }

LineWriter& LineWriter::U32(uint32_t v) {
  char tmp[10];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) Char(tmp[--n]);
  return *this;
}

LineWriter& LineWriter::I32(int32_t v) {
  if (v < 0) {
    Char('-');
    return U32(static_cast<uint32_t>(-(static_cast<int64_t>(v))));
  }
  return U32(static_cast<uint32_t>(v));
}

LineWriter& LineWriter::Hex32(uint32_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = 28; shift >= 0; shift -= 4) Char(kHex[(v >> shift) & 0xFu]);
  return *this;
}

LineWriter& LineWriter::Fixed3(double v) {
  const bool negative = v < 0;
  const double mag = negative ? -v : v;
  // Bounded: dequantized int8 scores are small; clamp so the cast is defined.
  const double milli_d = mag * 1000.0;
  const uint64_t milli = milli_d >= 4.0e12 ? 4000000000000ull : static_cast<uint64_t>(milli_d);
  if (negative && milli != 0) Char('-');
  const uint64_t whole = milli / 1000;
  U32(static_cast<uint32_t>(whole > 0xFFFFFFFFull ? 0xFFFFFFFFull : whole));
  const uint32_t frac = static_cast<uint32_t>(milli % 1000);
  Char('.');
  Char(static_cast<char>('0' + frac / 100));
  Char(static_cast<char>('0' + (frac / 10) % 10));
  Char(static_cast<char>('0' + frac % 10));
  return *this;
}

void LineWriter::End() {
  Char('\r');
  Char('\n');
  Flush();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseDecimal(const char* s, size_t n, uint32_t* out) {
  if (n == 0 || n > 9) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<uint32_t>(s[i] - '0');
  }
  *out = v;
  return true;
}

bool ParseHex32(const char* s, size_t n, uint32_t* out) {
  if (n != 8) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const int d = HexDigit(s[i]);
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *out = v;
  return true;
}

size_t Tokenize(const char* line, size_t n, Token* tokens, size_t max) {
  size_t count = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && line[i] == ' ') ++i;
    if (i == n) break;
    const size_t start = i;
    while (i < n && line[i] != ' ') ++i;
    if (count == max) return max + 1;
    tokens[count++] = Token{line + start, i - start};
  }
  return count;
}

bool TokenIs(const Token& t, const char* s) {
  const size_t n = std::strlen(s);
  return t.n == n && std::memcmp(t.p, s, n) == 0;
}

}  // namespace kws
