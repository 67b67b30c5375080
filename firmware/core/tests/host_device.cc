// One kws::Device on the host, over stdin/stdout: the C++ side of the protocol
// conformance test (tests/test_protocol_conformance.py), which sends the same bytes to
// this and to the virtual board and compares the answers. The engine, front-end and
// system are the test fakes (fakes.h); shapes and labels come from the generated
// model_settings.h; the clock is the real monotonic clock, so the 500 ms payload timeout
// is real.
//
//   kws_host_device [--board <name>] [--fw <version>] [--boot-error <reason> --detail <d>]
//
// --boot-error boots into safe mode as if CheckModel had failed with that reason.
//
// Prints the boot banner, then serves until stdin closes. `reset` restarts the device
// (counters zero, banner again), as on a board.
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "fakes.h"
#include "model_settings.h"
#include "model_spec_from_settings.h"

namespace {

class StdoutTransport : public kws::Transport {
 public:
  void Write(const uint8_t* data, size_t len) override {
    while (len > 0) {  // unbuffered: the host reads each line as soon as it is written
      const ssize_t n = ::write(STDOUT_FILENO, data, len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // the reader went away: nothing left to tell
      data += n;
      len -= static_cast<size_t>(n);
    }
  }
};

class MonotonicClock : public kws::Clock {
 public:
  uint32_t NowMs() override { return static_cast<uint32_t>(NowNs() / 1000000u); }
  uint32_t NowUs() override { return static_cast<uint32_t>(NowNs() / 1000u); }

 private:
  static uint64_t NowNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  }
};

// The core calls Reset from inside OnByte; the restart (Begin) happens after it returns.
class HostSystem : public kws::System {
 public:
  void Reset() override { pending = true; }
  bool pending = false;
};

alignas(4) uint8_t g_payload[kws::kPayloadBytes];
int8_t g_features[kws::settings::kFeatureElementCount];
int16_t g_field_clip[kws::settings::kClipSamples];

}  // namespace

int main(int argc, char** argv) {
  const char* board = "host";
  const char* fw = "0.0.0+host";
  kws::BootStatus boot;
  for (int i = 1; i < argc; i += 2) {
    const char* opt = argv[i];
    const bool known = std::strcmp(opt, "--board") == 0 || std::strcmp(opt, "--fw") == 0 ||
                       std::strcmp(opt, "--boot-error") == 0 || std::strcmp(opt, "--detail") == 0;
    if (!known) {
      std::fprintf(stderr, "error: unknown option %s (want --board, --fw, --boot-error, --detail)\n",
                   opt);
      return 2;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "error: %s takes a value\n", opt);
      return 2;
    }
    const char* val = argv[i + 1];
    if (std::strcmp(opt, "--board") == 0) {
      board = val;
    } else if (std::strcmp(opt, "--fw") == 0) {
      fw = val;
    } else if (std::strcmp(opt, "--boot-error") == 0) {
      boot.reason = val;
    } else {  // --detail
      std::snprintf(boot.detail, sizeof(boot.detail), "%s", val);
    }
  }

  StdoutTransport transport;
  MonotonicClock clock;
  kws_test::FakeClock engine_clock;  // FakeEngine advances it; the Device uses the real one
  kws_test::FakeEngine engine(engine_clock);
  kws_test::FakeFrontEnd front_end;
  HostSystem system;
  kws::Device device(transport, clock, front_end, engine, system,
                     kws::DeviceConfig{board, fw, false}, kws::ModelSpecFromSettings(),
                     kws::DeviceBuffers{g_payload, sizeof(g_payload), g_features, sizeof(g_features)});
  kws::FieldClip field_clip(g_field_clip, kws::settings::kClipSamples);
  device.AttachFieldClip(&field_clip);
  device.Begin(boot);

  uint8_t buf[4096];
  for (;;) {
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 10);  // wake every 10 ms for the payload timeout
    if (ready < 0 && errno != EINTR) return 1;
    if (ready > 0) {
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // stdin closed
      for (ssize_t i = 0; i < n; ++i) {
        device.OnByte(buf[i]);
        if (system.pending) {  // restart as a board does: counters zero, banner again
          system.pending = false;
          device.Begin(boot);
        }
      }
    }
    device.Poll();
  }
}
