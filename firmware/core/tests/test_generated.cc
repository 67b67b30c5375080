// The generated headers (ml.export: model_settings.h, model_data.h/.cc) compile into this
// build, state a consistent contract (docs/contracts.md) and boot the core: checked on the
// host and on the Cortex-M4. The inference engine is a fake: this is about the headers.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "fakes.h"
#include "harness.h"
#include "model_data.h"
#include "model_settings.h"
#include "model_spec_from_settings.h"

namespace {

namespace st = kws::settings;

// ---- SHA-256 (FIPS 180-4), test-only: checks kModelSha256 against the model bytes.
class Sha256 {
 public:
  void Update(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      block_[fill_++] = p[i];
      if (fill_ == 64) Compress();
    }
    bits_ += static_cast<uint64_t>(n) * 8;
  }
  void Hex(char out[65]) {
    const uint64_t bits = bits_;
    const uint8_t pad = 0x80;
    Update(&pad, 1);
    const uint8_t zero = 0;
    while (fill_ != 56) Update(&zero, 1);
    for (int i = 7; i >= 0; --i) block_[fill_++] = static_cast<uint8_t>(bits >> (8 * i));
    Compress();
    for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08lx", static_cast<unsigned long>(h_[i]));
  }

 private:
  static uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void Compress() {
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t{block_[4 * i]} << 24) | (uint32_t{block_[4 * i + 1]} << 16) |
             (uint32_t{block_[4 * i + 2]} << 8) | block_[4 * i + 3];
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
    fill_ = 0;
  }
  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t block_[64] = {0};
  size_t fill_ = 0;
  uint64_t bits_ = 0;
};

KWS_TEST(Sha256KnownAnswer) {
  Sha256 s;
  s.Update(reinterpret_cast<const uint8_t*>("abc"), 3);
  char hex[65];
  s.Hex(hex);
  EXPECT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

KWS_TEST(GeneratedShapesAndLabels) {
  EXPECT_TRUE(st::kNumLabels >= 3 && st::kNumLabels <= static_cast<int>(kws::kMaxLabels));
  EXPECT_EQ(sizeof(st::kLabels) / sizeof(st::kLabels[0]), st::kNumLabels);
  EXPECT_STREQ(st::kLabels[0], "_silence_");
  EXPECT_STREQ(st::kLabels[1], "_unknown_");
  EXPECT_EQ(st::kFeatureElementCount, st::kFeatureSliceCount * st::kFeatureSliceSize);
  EXPECT_EQ(st::kFeatureSliceSize, st::kNumChannels);
  // Frames from the clip: 1 + (clip_ms - window) / stride (49 for micro_speech's values).
  const int clip_ms = st::kClipSamples * 1000 / st::kSampleRate;
  EXPECT_EQ(st::kFeatureSliceCount, 1 + (clip_ms - st::kWindowSizeMs) / st::kWindowStrideMs);
  EXPECT_TRUE(st::kLowerBandLimit < st::kUpperBandLimit);
  EXPECT_TRUE(st::kUpperBandLimit <= st::kSampleRate / 2);
}

KWS_TEST(GeneratedQuantizationAndRecognizer) {
  // The input quantization must be (close to) the identity on micro_speech's int8 features:
  // zero point -128 and a scale near 666 / 256 / 25.6 = 0.1016 (the contract says 0.1025...;
  // the converter picks 0.1015625 = 26/256 on the tiny model): within 2%.
  EXPECT_EQ(st::kInputZeroPoint, -128);
  EXPECT_TRUE(st::kInputScale > 0.1000f && st::kInputScale < 0.1050f);
  EXPECT_TRUE(st::kOutputScale > 0.0f);
  EXPECT_TRUE(st::kOutputZeroPoint >= -128 && st::kOutputZeroPoint <= 127);
  EXPECT_TRUE(st::kDetectionThreshold >= 0 && st::kDetectionThreshold <= 255);
  EXPECT_TRUE(st::kMinimumCount >= 1);
  EXPECT_TRUE(st::kAverageWindowMs > 0);
}

KWS_TEST(GeneratedModelDataAndArena) {
  EXPECT_EQ(reinterpret_cast<uintptr_t>(g_kws_model_data) % 16, 0u);
  EXPECT_TRUE(g_kws_model_data_len > 8);
  EXPECT_TRUE(std::memcmp(g_kws_model_data + 4, "TFL3", 4) == 0);  // flatbuffer identifier
  EXPECT_EQ(st::kTensorArenaSize % 16, 0);
  EXPECT_TRUE(st::kTensorArenaSize > 0);
  EXPECT_EQ(std::strlen(st::kModelSha256), 64u);
  for (const char* p = st::kModelSha256; *p != '\0'; ++p) {
    EXPECT_TRUE((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
  }
  Sha256 s;
  s.Update(g_kws_model_data, g_kws_model_data_len);
  char hex[65];
  s.Hex(hex);
  EXPECT_STREQ(hex, st::kModelSha256);
}

KWS_TEST(GeneratedOpsAreSupported) {
  EXPECT_EQ(sizeof(st::kOps) / sizeof(st::kOps[0]), st::kOpCount);
  const char* missing = kws::FirstUnsupportedOp(st::kOps, st::kOpCount);
  EXPECT_STREQ(missing == nullptr ? "" : missing, "");
}

// Board-sized static buffers, as a board app declares them.
alignas(4) uint8_t g_payload[kws::kPayloadBytes];
int8_t g_features[st::kFeatureElementCount];

KWS_TEST(CoreBootsWithTheGeneratedSpec) {
  kws_test::FakeTransport t;
  kws_test::FakeClock c;
  kws_test::FakeFrontEnd fe;
  kws_test::FakeEngine e(c);
  kws_test::FakeSystem sys;
  kws::Device d(t, c, fe, e, sys, kws::DeviceConfig{"host", "1", true}, kws::ModelSpecFromSettings(),
                kws::DeviceBuffers{g_payload, sizeof(g_payload), g_features, sizeof(g_features)});
  d.Begin(kws::BootStatus{});
  EXPECT_STREQ(t.Take(), "m-boot board=host fw=1 proto=1\r\nm-ready\r\n");
  char want[64];
  std::snprintf(want, sizeof(want), " input=%dx%d labels=%d ", st::kFeatureSliceCount,
                st::kFeatureSliceSize, st::kNumLabels);
  const char* id = "id\n";
  for (const char* p = id; *p != '\0'; ++p) d.OnByte(static_cast<uint8_t>(*p));
  EXPECT_TRUE(std::strstr(t.Take(), want) != nullptr);
  const char* cmd = "features 2 41d912ff\n";  // zlib.crc32(b"\0\0")
  for (const char* p = cmd; *p != '\0'; ++p) d.OnByte(static_cast<uint8_t>(*p));
  d.OnByte(0);
  d.OnByte(0);
  const char* out = t.Take();
  char head[48];
  std::snprintf(head, sizeof(head), "m-features n=%d ", st::kFeatureElementCount);
  EXPECT_TRUE(std::strncmp(out, head, std::strlen(head)) == 0);
  EXPECT_EQ(fe.last_samples, static_cast<size_t>(st::kClipSamples));
}

}  // namespace

namespace {

// The core's own RAM (the Device instance: latencies, recognizer window, counters) stays
// small next to the model's buffers; printed by make firmware-m4.
KWS_TEST(CoreRamIsBounded) {
  std::printf("info: static RAM: kws::Device %u B, payload %u B, features %u B, arena %d B\n",
              static_cast<unsigned>(sizeof(kws::Device)), static_cast<unsigned>(sizeof(g_payload)),
              static_cast<unsigned>(sizeof(g_features)), st::kTensorArenaSize);
  EXPECT_TRUE(sizeof(kws::Device) < 16 * 1024);
}

}  // namespace
