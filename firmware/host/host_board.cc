// The host board: the firmware (firmware/core + the TFLM glue + TFLM's reference kernels) as
// a Linux program that serves PROTOCOL.md on a pseudo-terminal, as a board serves its UART.
// It takes any int8 KWS model and its settings at start (no rebuild), and enforces the
// board's budgets (hil/boards.yaml) at boot exactly as the board's firmware does.
//
//   kws_host_board --board <b> --fw <version> --model <m.tflite> --settings <file>
//                  --model-budget <bytes> --arena-budget <bytes> --macs-per-us <x>
//                  [--plant frontend|output]
//
// Prints `PORT /dev/pts/N` on stdout once the device has booted, then serves until SIGTERM
// or SIGINT. `us`/`bench` report the board's estimate (model MACs / (MACs per cycle x
// clock) = macs / macs-per-us, latency=estimated), never the host's time: the device's
// microsecond clock is the host's clock with each inference's host time replaced by the
// estimate. --plant (tests only) adds one to one front-end feature or one model output, so
// the HIL parity and agreement checks can be shown to fail.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "device.h"
#include "model_boot.h"
#include "settings_file.h"
#include "version.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// A pty master: the device's UART. Writes wait while the host is slow to read, up to 5 s
// of no progress; then the output is dropped (the host is gone), as a board's FIFO would.
class PtyTransport : public kws::Transport {
 public:
  explicit PtyTransport(int fd) : fd_(fd) {}
  void Write(const uint8_t* data, size_t len) override {
    uint64_t deadline = NowNs() + 5000000000ull;
    while (len > 0) {
      const ssize_t n = ::write(fd_, data, len);
      if (n > 0) {
        data += n;
        len -= static_cast<size_t>(n);
        deadline = NowNs() + 5000000000ull;
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return;
      if (NowNs() > deadline || g_stop) return;
      pollfd pfd{fd_, POLLOUT, 0};
      ::poll(&pfd, 1, 50);
    }
  }

 private:
  int fd_;
};

// The board's timeline: host time, except that each inference takes its estimate.
class HostClock : public kws::Clock {
 public:
  uint32_t NowMs() override { return static_cast<uint32_t>(NowNs() / 1000000u); }
  uint32_t NowUs() override {
    return static_cast<uint32_t>((NowNs() - host_in_invoke_ns_) / 1000u + estimated_us_);
  }
  void AddInference(uint64_t host_ns, uint64_t estimate_us) {
    host_in_invoke_ns_ += host_ns;
    estimated_us_ += estimate_us;
  }

 private:
  uint64_t host_in_invoke_ns_ = 0;
  uint64_t estimated_us_ = 0;
};

// The TFLM engine on the board's timeline (and the --plant output hook).
class EstimatingEngine : public kws::InferenceEngine {
 public:
  EstimatingEngine(kws::TflmEngine& engine, HostClock& clock) : engine_(engine), clock_(clock) {}
  bool Invoke(const int8_t* in, size_t in_len, int8_t* out, size_t out_len) override {
    const uint64_t t0 = NowNs();
    const bool ok = engine_.Invoke(in, in_len, out, out_len);
    clock_.AddInference(NowNs() - t0, estimate_us);
    if (ok && plant && out_len > 0) out[0] = static_cast<int8_t>(out[0] == 127 ? 126 : out[0] + 1);
    return ok;
  }
  size_t ArenaSize() const override { return engine_.ArenaSize(); }
  size_t ArenaUsed() const override { return engine_.ArenaUsed(); }
  const char* ModelSha256() const override {
    return fallback_sha256 != nullptr ? fallback_sha256 : engine_.ModelSha256();
  }
  uint64_t estimate_us = 0;
  const char* fallback_sha256 = nullptr;  // unusable settings: the image's sha256
  bool plant = false;

 private:
  kws::TflmEngine& engine_;
  HostClock& clock_;
};

// The microfrontend (and the --plant frontend hook).
class PlantableFrontEnd : public kws::FrontEnd {
 public:
  explicit PlantableFrontEnd(kws::MicroFrontend& fe) : fe_(fe) {}
  bool Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) override {
    const bool ok = fe_.Compute(pcm, samples, out, out_len);
    if (ok && plant && out_len > 0) out[0] = static_cast<int8_t>(out[0] == 127 ? 126 : out[0] + 1);
    return ok;
  }
  bool plant = false;

 private:
  kws::MicroFrontend& fe_;
};

class HostSystem : public kws::System {
 public:
  void Reset() override { pending = true; }
  bool pending = false;
};

bool ReadFile(const char* path, uint8_t** data, size_t* len, size_t align) {
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return false;
  std::fseek(f, 0, SEEK_END);
  const long n = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  if (n < 0) {
    std::fclose(f);
    return false;
  }
  const size_t size = static_cast<size_t>(n);
  void* p = nullptr;
  if (posix_memalign(&p, align, size + 1) != 0) {
    std::fclose(f);
    return false;
  }
  const size_t got = std::fread(p, 1, size, f);
  std::fclose(f);
  if (got != size) {
    free(p);
    return false;
  }
  static_cast<uint8_t*>(p)[size] = 0;
  *data = static_cast<uint8_t*>(p);
  *len = size;
  return true;
}

int Usage(const char* msg) {
  std::fprintf(stderr, "error: kws_host_board: %s\n", msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const char* board = nullptr;
  const char* fw = kws::kFirmwareVersion;
  const char* model_path = nullptr;
  const char* settings_path = nullptr;
  const char* plant = nullptr;
  const char* safe_detail = nullptr;
  long model_budget = -1;
  long arena_budget = -1;
  double macs_per_us = 0;
  long macs = 0;
  for (int i = 1; i < argc; i += 2) {
    const char* opt = argv[i];
    if (i + 1 >= argc) return Usage("every option takes a value");
    const char* v = argv[i + 1];
    if (!std::strcmp(opt, "--board")) board = v;
    else if (!std::strcmp(opt, "--fw")) fw = v;
    else if (!std::strcmp(opt, "--model")) model_path = v;
    else if (!std::strcmp(opt, "--settings")) settings_path = v;
    else if (!std::strcmp(opt, "--model-budget")) model_budget = std::atol(v);
    else if (!std::strcmp(opt, "--arena-budget")) arena_budget = std::atol(v);
    else if (!std::strcmp(opt, "--macs-per-us")) macs_per_us = std::atof(v);
    else if (!std::strcmp(opt, "--macs")) macs = std::atol(v);
    else if (!std::strcmp(opt, "--plant")) plant = v;
    else if (!std::strcmp(opt, "--safe-mode")) safe_detail = v;
    else return Usage("unknown option (see firmware/host/host_board.cc)");
  }
  if (board == nullptr || model_path == nullptr || settings_path == nullptr || model_budget < 0 ||
      arena_budget < 0 || !(macs_per_us > 0) || macs < 0) {
    return Usage("need --board, --model, --settings, --model-budget, --arena-budget, --macs-per-us, --macs");
  }
  if (plant != nullptr && std::strcmp(plant, "frontend") != 0 && std::strcmp(plant, "output") != 0) {
    return Usage("--plant must be frontend or output");
  }

  // ---- setup: the only heap use (model file, arena, buffers), as a board's static memory
  uint8_t* text = nullptr;
  size_t text_len = 0;
  if (!ReadFile(settings_path, &text, &text_len, 16)) {
    std::fprintf(stderr, "error: %s: cannot read (%s)\n", settings_path, std::strerror(errno));
    return 1;
  }
  static kws_host::SettingsFile settings;
  char why[160];
  // Settings the firmware cannot use (e.g. an erased slot's image, hil/virtual/slot.py, or
  // --safe-mode <detail>: model_settings.json that hil/virtual/board.py could not convert):
  // the board still comes up, in safe mode (e-boot reason=model-schema detail=<detail> or
  // detail=settings), with a one-value spec; `id` reports the image's sha256.
  const bool settings_ok =
      safe_detail == nullptr &&
      kws_host::ParseSettings(reinterpret_cast<char*>(text), &settings, why, sizeof(why));
  if (!settings_ok) {
    if (safe_detail == nullptr) std::fprintf(stderr, "%s: %s: %s\n", board, settings_path, why);
    if (safe_detail != nullptr) {  // the parser did not run: only the image's sha256 is kept
      kws_host::SettingsFile parsed;
      char ignored[160];
      kws_host::ParseSettings(reinterpret_cast<char*>(text), &parsed, ignored, sizeof(ignored));
      std::memcpy(settings.sha256, parsed.sha256, sizeof(settings.sha256));
    }
    settings.config.spec.frames = settings.config.spec.channels = 1;
    settings.config.spec.clip_samples = 1;
    settings.config.spec.num_labels = 0;
    settings.config.spec.labels = settings.labels;
    settings.config.arena_size = 16;
  }
  uint8_t* model = nullptr;
  size_t model_len = 0;
  if (!ReadFile(model_path, &model, &model_len, 16)) {
    std::fprintf(stderr, "error: %s: cannot read (%s)\n", model_path, std::strerror(errno));
    return 1;
  }
  const kws::ModelConfig& config = settings.config;
  const kws::ModelSpec& spec = config.spec;
  const size_t feature_bytes = spec.frames * spec.channels;
  const size_t payload_bytes = feature_bytes > 2 * spec.clip_samples ? feature_bytes : 2 * spec.clip_samples;
  void* arena = nullptr;
  void* payload = nullptr;
  void* features = nullptr;
  void* clip_pcm = nullptr;  // the one field-clip buffer (PROTOCOL.md "Field clips")
  if (posix_memalign(&clip_pcm, 16, 2 * spec.clip_samples) != 0 ||
      posix_memalign(&arena, 16, config.arena_size) != 0 ||
      posix_memalign(&payload, 16, payload_bytes) != 0 ||
      posix_memalign(&features, 16, feature_bytes) != 0) {
    std::fprintf(stderr, "error: cannot allocate the arena (%zu bytes)\n", config.arena_size);
    return 1;
  }

  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    std::fprintf(stderr, "error: cannot open a pseudo-terminal (%s)\n", std::strerror(errno));
    return 1;
  }
  const char* path = ptsname(master);
  // Our own slave fd keeps the port alive while a host closes and reopens it (a USB serial
  // device does not vanish when the host closes it); raw: no echo, no line discipline.
  const int slave = ::open(path, O_RDWR | O_NOCTTY);
  termios tio{};
  if (slave < 0 || tcgetattr(slave, &tio) != 0) {
    std::fprintf(stderr, "error: %s: cannot open (%s)\n", path, std::strerror(errno));
    return 1;
  }
  cfmakeraw(&tio);
  tcsetattr(slave, TCSANOW, &tio);
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  static PtyTransport transport(master);
  static HostClock clock;
  static kws::TflmEngine tflm;
  static kws::MicroFrontend micro_frontend;
  static EstimatingEngine engine(tflm, clock);
  static PlantableFrontEnd front_end(micro_frontend);
  static HostSystem system;
  engine.estimate_us = static_cast<uint64_t>(std::llround(static_cast<double>(macs) / macs_per_us));
  engine.plant = plant != nullptr && plant[0] == 'o';
  front_end.plant = plant != nullptr && plant[0] == 'f';
  const kws::BoardBudget budget{static_cast<size_t>(model_budget), static_cast<size_t>(arena_budget)};
  const auto boot = [&]() {
    return kws::BootModel(tflm, micro_frontend, config, model, model_len,
                          static_cast<uint8_t*>(arena), config.arena_size, budget);
  };
  static kws::Device device(
      transport, clock, front_end, engine, system, kws::DeviceConfig{board, fw, false}, spec,
      kws::DeviceBuffers{static_cast<uint8_t*>(payload), payload_bytes,
                         static_cast<int8_t*>(features), feature_bytes});
  const auto boot_or_safe = [&]() {
    if (settings_ok) return boot();
    kws::BootStatus st;
    st.reason = "model-schema";
    std::snprintf(st.detail, sizeof(st.detail), "%s", safe_detail ? safe_detail : "settings");
    return st;
  };
  engine.fallback_sha256 = settings_ok ? nullptr : settings.sha256;
  static kws::FieldClip field_clip(static_cast<int16_t*>(clip_pcm), spec.clip_samples);
  device.AttachFieldClip(&field_clip);  // band off at boot, as on the boards
  kws::BootStatus status = boot_or_safe();
  if (!status.ok()) {
    std::fprintf(stderr, "%s: safe mode: e-boot reason=%s detail=%s\n", board, status.reason,
                 status.detail);
  }
  device.Begin(status);  // like a board's, the banner is said before anyone opens the port
  std::printf("PORT %s\n", path);
  std::fflush(stdout);

  uint8_t buf[4096];
  while (!g_stop) {
    pollfd pfd{master, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 10);  // wake every 10 ms for the payload timeout
    if (ready > 0 && (pfd.revents & POLLIN) != 0) {
      const ssize_t n = ::read(master, buf, sizeof(buf));
      for (ssize_t i = 0; i < n; ++i) {
        device.OnByte(buf[i]);
        if (system.pending) {  // a reset: setup again, counters zero, banner again
          system.pending = false;
          status = boot_or_safe();
          device.Begin(status);
        }
      }
    }
    device.Poll();
  }
  ::close(master);
  ::close(slave);
  free(text);  // setup's memory, held for the board's life
  free(model);
  free(arena);
  free(payload);
  free(features);
  free(clip_pcm);
  return 0;
}
