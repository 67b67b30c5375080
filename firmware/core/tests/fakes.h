// Fakes for the seams and a Device fixture with a small test model (4 frames x 5
// channels, 4 labels, 16-sample clips): the core is tested without a trained model.
#ifndef KWS_CORE_TESTS_FAKES_H_
#define KWS_CORE_TESTS_FAKES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "device.h"
#include "seams.h"

namespace kws_test {

class FakeTransport : public kws::Transport {
 public:
  void Write(const uint8_t* data, size_t len) override {
    for (size_t i = 0; i < len && len_ + 1 < sizeof(buf_); ++i) buf_[len_++] = static_cast<char>(data[i]);
    buf_[len_] = '\0';
  }
  // Everything written since the last Take, as a C string.
  const char* Take() {
    std::memcpy(taken_, buf_, len_ + 1);
    len_ = 0;
    buf_[0] = '\0';
    return taken_;
  }

 private:
  char buf_[8192] = {0};
  char taken_[8192] = {0};
  size_t len_ = 0;
};

class FakeClock : public kws::Clock {
 public:
  uint32_t NowMs() override { return ms; }
  uint32_t NowUs() override { return us; }
  uint32_t ms = 1000;
  uint32_t us = 5000;
};

// Features = the first frames x channels samples scaled to int8 (enough to tell apart).
class FakeFrontEnd : public kws::FrontEnd {
 public:
  bool Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) override {
    ++calls;
    last_samples = samples;
    if (fail) return false;
    for (size_t i = 0; i < out_len; ++i) out[i] = static_cast<int8_t>(pcm[i % samples] / 256);
    return true;
  }
  bool fail = false;
  int calls = 0;
  size_t last_samples = 0;
};

// Scores: scores[k] = the sum of feature row k clamped to int8, or a preset vector.
// Each Invoke advances the fake clock by `latency_us` (so bench/us are exact).
class FakeEngine : public kws::InferenceEngine {
 public:
  explicit FakeEngine(FakeClock& clock) : clock_(clock) {}
  bool Invoke(const int8_t* in, size_t in_len, int8_t* out, size_t out_len) override {
    ++calls;
    clock_.us += latency_us + static_cast<uint32_t>(calls % 3);  // a little jitter: 0,1,2
    if (fail || (fail_after >= 0 && calls > fail_after)) return false;
    last_in_len = in_len;
    for (size_t k = 0; k < out_len; ++k) {
      if (use_preset) {
        out[k] = preset[k];
        continue;
      }
      int sum = 0;
      for (size_t i = 0; i < in_len / out_len; ++i) sum += in[k * (in_len / out_len) + i];
      out[k] = static_cast<int8_t>(sum > 127 ? 127 : sum < -128 ? -128 : sum);
    }
    return true;
  }
  size_t ArenaSize() const override { return 4096; }
  size_t ArenaUsed() const override { return 3000; }
  const char* ModelSha256() const override {
    return "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  }
  bool fail = false;
  int fail_after = -1;  // >= 0: calls after this many fail
  bool use_preset = false;
  int8_t preset[kws::kMaxLabels] = {0};
  uint32_t latency_us = 100;
  int calls = 0;
  size_t last_in_len = 0;

 private:
  FakeClock& clock_;
};

class FakeSystem : public kws::System {
 public:
  void Reset() override { ++resets; }
  int resets = 0;
};

class FakeAudio : public kws::AudioSource {
 public:
  bool Start() override { return true; }
  bool Latest(int16_t* dst, size_t n, uint32_t* end_ms) override {
    for (size_t i = 0; i < n; ++i) dst[i] = level;
    *end_ms = time_ms;
    return ready;
  }
  bool ready = true;
  int16_t level = 0;
  uint32_t time_ms = 0;
};

inline constexpr const char* kTestLabels[] = {"_silence_", "_unknown_", "yes", "no"};

inline kws::ModelSpec TestSpec() {
  kws::ModelSpec s{};
  s.frames = 4;
  s.channels = 5;
  s.num_labels = 4;
  s.labels = kTestLabels;
  s.output_scale = 1.0f / 256.0f;
  s.output_zero_point = -128;
  s.clip_samples = 16;
  s.recognizer = kws::RecognizerConfig{1000, 200, 1500, 3};
  return s;
}

struct Fixture {
  static constexpr size_t kFeatureBytes = 20;
  static constexpr size_t kPayloadBytes = 32;  // max(20, 2 x 16)

  explicit Fixture(bool boot = true, const kws::BootStatus& status = kws::BootStatus{})
      : engine(clock),
        device(transport, clock, front_end, engine, system, kws::DeviceConfig{"host", "1.2.3", true},
               TestSpec(), kws::DeviceBuffers{payload, sizeof(payload), features, sizeof(features)}) {
    if (boot) {
      device.Begin(status);
      transport.Take();
    }
  }
  void Send(const char* s) { SendBytes(reinterpret_cast<const uint8_t*>(s), std::strlen(s)); }
  void SendBytes(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) device.OnByte(p[i]);
    device.Poll();
  }
  const char* Out() { return transport.Take(); }

  FakeTransport transport;
  FakeClock clock;
  FakeFrontEnd front_end;
  FakeEngine engine;
  FakeSystem system;
  alignas(4) uint8_t payload[kPayloadBytes] = {0};
  int8_t features[kFeatureBytes] = {0};
  kws::Device device;
};

}  // namespace kws_test

#endif  // KWS_CORE_TESTS_FAKES_H_
