// Bounded text helpers: a line writer that streams to the Transport through a small
// buffer (lines such as m-features can be kilobytes long), and strict number parsing.
#ifndef KWS_CORE_TEXT_H_
#define KWS_CORE_TEXT_H_

#include <cstddef>
#include <cstdint>

#include "seams.h"

namespace kws {

// Builds output in a 96-byte buffer and writes it to the transport whenever it fills;
// End() appends "\r\n" and flushes. No printf: the M4 image stays small.
class LineWriter {
 public:
  explicit LineWriter(Transport& t) : transport_(t) {}
  LineWriter& Str(const char* s);
  LineWriter& Bytes(const char* s, size_t n);
  LineWriter& Char(char c);
  LineWriter& U32(uint32_t v);
  LineWriter& I32(int32_t v);
  LineWriter& Hex32(uint32_t v);  // 8 lowercase hex digits
  // Fixed point with 3 decimals, truncated toward zero: "0.996", "-0.500", "12.000".
  LineWriter& Fixed3(double v);
  void End();  // "\r\n" + flush

 private:
  void Flush();
  Transport& transport_;
  char buf_[96];
  size_t len_ = 0;
};

// Strict parsers: the whole token must match; no sign, no spaces.
// Decimal: 1-9 digits (0..999999999). Hex32: exactly 8 hex digits, either case.
bool ParseDecimal(const char* s, size_t n, uint32_t* out);
bool ParseHex32(const char* s, size_t n, uint32_t* out);
// One hex digit's value, or -1.
int HexDigit(char c);

// Splits `line` (length n) at runs of spaces into at most `max` tokens. Returns the token
// count, or max + 1 when there are more tokens than `max`.
struct Token {
  const char* p;
  size_t n;
};
size_t Tokenize(const char* line, size_t n, Token* tokens, size_t max);
bool TokenIs(const Token& t, const char* s);

}  // namespace kws

#endif  // KWS_CORE_TEXT_H_
