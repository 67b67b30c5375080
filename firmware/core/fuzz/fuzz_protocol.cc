// libFuzzer target for the framer + dispatcher: arbitrary host bytes, interleaved with clock
// jumps (payload timeouts) and fake engine/front-end failures, must never crash, overflow,
// hang or break the invariant "every response ends with m-ready".
//
// Input layout: byte 0 = flags (engine fails, front-end fails, boot in safe mode, attach a
// microphone); then a stream where 0xFF followed by k advances the clock by k x 10 ms and
// polls, and any other byte (or 0xFF 0xFF) is fed to the device.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fakes.h"

namespace {

// Checks the output as it streams: every line is printable ASCII ended by "\r\n", bounded,
// and every e- line is followed by m-ready (PROTOCOL.md: one e- line, then m-ready) except
// the unsolicited e-internal of live listening.
class CheckingTransport : public kws::Transport {
 public:
  void Write(const uint8_t* data, size_t len) override {
    for (size_t i = 0; i < len; ++i) {
      const uint8_t c = data[i];
      if (c == '\n') {
        if (line_ == 0 || !cr_) std::abort();  // "\r\n" only, no empty line
        EndLine();
        continue;
      }
      if (cr_) std::abort();  // '\r' only before '\n'
      if (c == '\r') {
        cr_ = true;
        continue;
      }
      if (c < 0x20 || c > 0x7e) std::abort();
      if (line_ < sizeof(head_) - 1) head_[line_] = static_cast<char>(c);
      if (++line_ > 8192) std::abort();
    }
  }

 private:
  void EndLine() {
    head_[line_ < sizeof(head_) - 1 ? line_ : sizeof(head_) - 1] = '\0';
    const bool ready = std::strcmp(head_, "m-ready") == 0;
    if (error_pending_ && !ready) std::abort();
    error_pending_ = std::strncmp(head_, "e-", 2) == 0 &&
                     std::strcmp(head_, "e-internal cmd=listen") != 0;
    line_ = 0;
    cr_ = false;
  }
  char head_[32] = {0};
  size_t line_ = 0;
  bool cr_ = false;
  bool error_pending_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  CheckingTransport transport;
  kws_test::FakeClock clock;
  kws_test::FakeFrontEnd front_end;
  kws_test::FakeEngine engine(clock);
  kws_test::FakeSystem system;
  kws_test::FakeAudio mic;
  engine.fail = (flags & 1) != 0;
  front_end.fail = (flags & 2) != 0;
  alignas(4) static uint8_t payload[32];
  static int8_t features[20];
  kws::Device device(transport, clock, front_end, engine, system,
                     kws::DeviceConfig{"fuzz", "0", false}, kws_test::TestSpec(),
                     kws::DeviceBuffers{payload, sizeof(payload), features, sizeof(features)});
  if ((flags & 8) != 0) device.AttachAudioSource(&mic);
  static int16_t clip_pcm[16];
  kws::FieldClip field_clip(clip_pcm, 16);  // field clips (clipband/clip) under the fuzzer too
  if ((flags & 16) == 0) device.AttachFieldClip(&field_clip);
  kws::BootStatus boot;
  if ((flags & 4) != 0) boot.reason = "arena";
  device.Begin(boot);
  for (size_t i = 1; i < size; ++i) {
    if (data[i] == 0xFF && i + 1 < size && data[i + 1] != 0xFF) {
      clock.ms += 10u * data[i + 1];
      mic.time_ms = clock.ms;
      device.Poll();
      ++i;
      continue;
    }
    if (data[i] == 0xFF && i + 1 < size) ++i;
    device.OnByte(data[i]);
    clock.ms += 1;
  }
  clock.ms += 1000;  // any open payload times out
  device.Poll();
  return 0;
}
