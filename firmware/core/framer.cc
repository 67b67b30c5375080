#include "framer.h"

namespace kws {

void Framer::Reset() {
  state_ = State::kLine;
  after_cr_ = false;
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
  const size_t n = len_;
  len_ = 0;
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
      if (after_cr_ && got_ == 0 && b == '\n') {  // the rest of a "\r\n" line end
        after_cr_ = false;
        last_byte_ms_ = now_ms;
        return;
      }
      after_cr_ = false;
      payload_[got_++] = b;
      last_byte_ms_ = now_ms;
      if (got_ == want_) {
        const size_t n = got_;
        Reset();
        handler_.OnPayload(n);
      }
      return;
    case State::kDiscard:
      if (b == '\n' || b == '%' || b == '\r') state_ = State::kLine;
      after_cr_ = b == '\r';
      return;
    case State::kLine:
      break;
  }
  // A terminal sends '\r' on Enter: a lone '\r' ends a line like '\n', and the '\n' of a
  // "\r\n" pair is swallowed, so "\r\n" stays one line end.
  const bool after_cr = after_cr_;
  after_cr_ = b == '\r';
  if (b == '\n' && after_cr && len_ == 0) return;
  if (b == '\n' || b == '\r') return EndLine(Terminator::kNewline);
  if (b == '%') return EndLine(Terminator::kPercent);
  if (len_ == kMaxLineBytes) {
    len_ = 0;
    state_ = State::kDiscard;
    handler_.OnLineTooLong();
    return;
  }
  line_[len_++] = static_cast<char>(b);
}

}  // namespace kws
