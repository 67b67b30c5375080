#include "framer.h"

namespace kws {

void Framer::Reset() {
  state_ = State::kLine;
  len_ = 0;
  payload_ = nullptr;
  want_ = got_ = 0;
}

void Framer::ExpectPayload(uint8_t* dst, size_t len, uint32_t now_ms) {
  if (dst == nullptr || len == 0) return;
  state_ = State::kPayload;
  payload_ = dst;
  want_ = len;
  got_ = 0;
  last_byte_ms_ = now_ms;
}

void Framer::Poll(uint32_t now_ms) {
  if (state_ != State::kPayload) return;
  if (static_cast<uint32_t>(now_ms - last_byte_ms_) > kPayloadTimeoutMs) {
    const size_t got = got_;
    const size_t want = want_;
    Reset();
    handler_.OnPayloadTimeout(got, want);
  }
}

void Framer::EndLine(Terminator t) {
  size_t n = len_;
  if (n > 0 && line_[n - 1] == '\r') --n;  // "\r\n" and "\r%" end a line like '\n'/'%'
  len_ = 0;  // n <= kMaxLineBytes: OnByte stores a 129th byte only when it is '\r'
  bool bad_in_line = false;
  for (size_t i = 0; i < n && !bad_in_line; ++i) {
    const auto c = static_cast<uint8_t>(line_[i]);
    bad_in_line = c < 0x20 || c > 0x7e;
  }
  if (bad_in_line) {
    handler_.OnBadChar();
    return;
  }
  if (n == 0) return;  // empty line: ignored, no response
  handler_.OnLine(line_, n, t);
}

void Framer::OnByte(uint8_t b, uint32_t now_ms) {
  switch (state_) {
    case State::kPayload:
      payload_[got_++] = b;
      last_byte_ms_ = now_ms;
      if (got_ == want_) {
        const size_t n = got_;
        Reset();
        handler_.OnPayload(n);
      }
      return;
    case State::kDiscard:
      if (b == '\n' || b == '%') state_ = State::kLine;
      return;
    case State::kLine:
      break;
  }
  if (b == '\n') return EndLine(Terminator::kNewline);
  if (b == '%') return EndLine(Terminator::kPercent);
  // Room for 128 bytes plus one '\r' that may turn out to precede the terminator.
  const bool fits = len_ < kMaxLineBytes || (len_ == kMaxLineBytes && b == '\r');
  if (!fits) {
    len_ = 0;
    state_ = State::kDiscard;
    handler_.OnLineTooLong();
    return;
  }
  line_[len_++] = static_cast<char>(b);
}

}  // namespace kws
