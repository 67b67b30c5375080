// Byte-at-a-time framing of the host->device stream (PROTOCOL.md "Framing"): command lines
// ended by '\n', '\r' or "\r\n" (ours) or '%' (MLPerf Tiny), bounded and checked for bad bytes, and binary
// payloads of a length announced by the previous command, with an inter-byte timeout.
// The framer owns no payload memory: the handler points it at a static buffer.
#ifndef KWS_CORE_FRAMER_H_
#define KWS_CORE_FRAMER_H_

#include <cstddef>
#include <cstdint>

namespace kws {

constexpr size_t kMaxLineBytes = 128;        // without the terminator
constexpr uint32_t kPayloadTimeoutMs = 500;  // max gap between payload bytes

enum class Terminator { kNewline, kPercent };

class FramerHandler {
 public:
  // A non-empty line of printable ASCII (0x20-0x7e), 1..kMaxLineBytes bytes, without its
  // terminator. The handler may call ExpectPayload.
  virtual void OnLine(const char* line, size_t n, Terminator t) = 0;
  // kMaxLineBytes bytes arrived without a terminator; the rest of the line is dropped.
  virtual void OnLineTooLong() = 0;
  // The terminated line held a byte outside 0x20-0x7e.
  virtual void OnBadChar() = 0;
  // All announced payload bytes arrived (in the buffer given to ExpectPayload).
  virtual void OnPayload(size_t n) = 0;
  // No payload byte for more than kPayloadTimeoutMs; `got` of `want` bytes arrived.
  virtual void OnPayloadTimeout(size_t got, size_t want) = 0;

 protected:
  ~FramerHandler() = default;
};

class Framer {
 public:
  explicit Framer(FramerHandler& h) : handler_(h) {}

  // Feed one received byte; `now_ms` from Clock::NowMs.
  void OnByte(uint8_t b, uint32_t now_ms);
  // Call regularly (every loop iteration): fires the payload timeout.
  void Poll(uint32_t now_ms);
  // From OnLine only: the next `len` (>= 1) bytes are payload, stored in dst[0..len).
  void ExpectPayload(uint8_t* dst, size_t len, uint32_t now_ms);
  bool in_payload() const { return state_ == State::kPayload; }
  void Reset();

 private:
  enum class State { kLine, kDiscard, kPayload };
  void EndLine(Terminator t);

  FramerHandler& handler_;
  State state_ = State::kLine;
  char line_[kMaxLineBytes];
  size_t len_ = 0;
  bool after_cr_ = false;  // the last byte was a '\r' that ended a line
  uint8_t* payload_ = nullptr;
  size_t want_ = 0;
  size_t got_ = 0;
  uint32_t last_byte_ms_ = 0;
};

}  // namespace kws

#endif  // KWS_CORE_FRAMER_H_
