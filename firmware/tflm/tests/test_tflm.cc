// firmware/tflm on the host and on the emulated Cortex-M4 (QEMU): the generated model boots
// in TFLM with the firmware's op resolver, infers, the microfrontend computes a clip, and
// each e-boot reason that a model + settings can cause is reported with its detail.
// (input-type/output-type need a float model: tests/test_firmware.py boots one on the host
// board.)
#include <cmath>
#include <cstdint>
#include <cstring>

#include "harness.h"
#include "model_boot.h"
#include "model_config_from_settings.h"
#include "model_data.h"
#include "model_settings.h"

namespace {

namespace st = kws::settings;
alignas(16) uint8_t g_arena[st::kTensorArenaSize];
alignas(16) unsigned char g_model[st::kModelBytes + 16];
int8_t g_features[st::kFeatureElementCount];
int16_t g_pcm[st::kClipSamples];

constexpr kws::BoardBudget kRoomy{1u << 30, 1u << 30};

kws::BootStatus Boot(const kws::ModelConfig& c, const unsigned char* model, size_t len,
                     size_t arena_size = sizeof(g_arena), kws::BoardBudget budget = kRoomy) {
  static kws::TflmEngine engine;
  static kws::MicroFrontend fe;
  return kws::BootModel(engine, fe, c, model, len, g_arena, arena_size, budget);
}

KWS_TEST(GeneratedModelBootsAndInfers) {
  kws::TflmEngine engine;
  kws::MicroFrontend fe;
  const kws::BootStatus st = kws::BootModel(engine, fe, kws::ModelConfigFromSettings(),
                                            g_kws_model_data, g_kws_model_data_len, g_arena,
                                            sizeof(g_arena), kRoomy);
  EXPECT_TRUE(st.ok());
  EXPECT_TRUE(engine.ArenaUsed() > 0);
  EXPECT_TRUE(engine.ArenaUsed() <= sizeof(g_arena));
  EXPECT_STREQ(engine.ModelSha256(), st::kModelSha256);
  int8_t out[st::kNumLabels];
  int8_t again[st::kNumLabels];
  for (int i = 0; i < st::kFeatureElementCount; ++i) g_features[i] = static_cast<int8_t>(i % 97 - 48);
  EXPECT_TRUE(engine.Invoke(g_features, sizeof(g_features), out, sizeof(out)));
  EXPECT_TRUE(engine.Invoke(g_features, sizeof(g_features), again, sizeof(again)));
  EXPECT_EQ(std::memcmp(out, again, sizeof(out)), 0);  // deterministic
  EXPECT_TRUE(!engine.Invoke(g_features, sizeof(g_features) - 1, out, sizeof(out)));
  EXPECT_TRUE(!engine.Invoke(g_features, sizeof(g_features), out, sizeof(out) - 1));
}

KWS_TEST(MicroFrontendComputesAClip) {
  kws::MicroFrontend fe;
  EXPECT_TRUE(fe.Init(kws::ModelConfigFromSettings().frontend, st::kFeatureSliceCount));
  for (int i = 0; i < st::kClipSamples; ++i) {  // 1 kHz tone at 1/4 full scale
    g_pcm[i] = static_cast<int16_t>(8000.0 * std::sin(2.0 * 3.14159265 * 1000.0 * i / st::kSampleRate));
  }
  std::memset(g_features, 0, sizeof(g_features));
  EXPECT_TRUE(fe.Compute(g_pcm, st::kClipSamples, g_features, sizeof(g_features)));
  int8_t max = -128;
  for (int8_t v : g_features) max = v > max ? v : max;
  EXPECT_TRUE(max > -128);  // the tone shows up
  int8_t first[st::kFeatureElementCount];
  std::memcpy(first, g_features, sizeof(first));
  EXPECT_TRUE(fe.Compute(g_pcm, st::kClipSamples, g_features, sizeof(g_features)));
  EXPECT_EQ(std::memcmp(first, g_features, sizeof(first)), 0);  // fresh state per clip
  EXPECT_TRUE(!fe.Compute(g_pcm, st::kClipSamples, g_features, sizeof(g_features) - 1));
}

// The Model table's `version` field (field 0) in a copy of the flatbuffer.
uint8_t* VersionField(unsigned char* buf) {
  uint32_t root = 0;
  std::memcpy(&root, buf, 4);
  int32_t vt_off = 0;
  std::memcpy(&vt_off, buf + root, 4);
  const unsigned char* vtable = buf + root - vt_off;
  uint16_t field = 0;
  std::memcpy(&field, vtable + 4, 2);
  return buf + root + field;
}

KWS_TEST(BootReasonModelSchema) {
  std::memcpy(g_model, g_kws_model_data, g_kws_model_data_len);
  uint8_t* version = VersionField(g_model);
  EXPECT_EQ(version[0], 3);
  version[0] = 4;
  kws::BootStatus st = Boot(kws::ModelConfigFromSettings(), g_model, g_kws_model_data_len);
  EXPECT_STREQ(st.reason ? st.reason : "ok", "model-schema");
  EXPECT_STREQ(st.detail, "4");
  std::memset(g_model, 0x5a, 64);  // not a flatbuffer at all
  st = Boot(kws::ModelConfigFromSettings(), g_model, 64);
  EXPECT_STREQ(st.reason ? st.reason : "ok", "model-schema");
  EXPECT_STREQ(st.detail, "0");
}

KWS_TEST(BootReasonBudget) {
  const kws::ModelConfig c = kws::ModelConfigFromSettings();
  kws::BootStatus st = Boot(c, g_kws_model_data, g_kws_model_data_len, sizeof(g_arena),
                            kws::BoardBudget{g_kws_model_data_len - 1, 1u << 30});
  EXPECT_STREQ(st.reason ? st.reason : "ok", "budget");
  EXPECT_TRUE(std::strncmp(st.detail, "model:", 6) == 0);
  st = Boot(c, g_kws_model_data, g_kws_model_data_len, sizeof(g_arena),
            kws::BoardBudget{1u << 30, sizeof(g_arena) - 1});
  EXPECT_STREQ(st.reason ? st.reason : "ok", "budget");
  EXPECT_TRUE(std::strncmp(st.detail, "arena:", 6) == 0);
}

KWS_TEST(BootReasonArena) {
  const kws::BootStatus st = Boot(kws::ModelConfigFromSettings(), g_kws_model_data,
                                  g_kws_model_data_len, 2048);
  EXPECT_STREQ(st.reason ? st.reason : "ok", "arena");
  EXPECT_STREQ(st.detail, "2048");
}

KWS_TEST(BootReasonShapes) {
  kws::ModelConfig c = kws::ModelConfigFromSettings();
  c.spec.frames += 1;  // settings that do not describe this model
  kws::BootStatus st = Boot(c, g_kws_model_data, g_kws_model_data_len);
  EXPECT_STREQ(st.reason ? st.reason : "ok", "input-shape");
  c = kws::ModelConfigFromSettings();
  c.spec.num_labels -= 1;
  st = Boot(c, g_kws_model_data, g_kws_model_data_len);
  EXPECT_STREQ(st.reason ? st.reason : "ok", "output-shape");
}

KWS_TEST(BootReasonFrontend) {
  kws::ModelConfig c = kws::ModelConfigFromSettings();
  c.frontend.num_channels = 0;  // the front-end cannot be set up
  const kws::BootStatus st = Boot(c, g_kws_model_data, g_kws_model_data_len);
  EXPECT_STREQ(st.reason ? st.reason : "ok", "arena");
  EXPECT_STREQ(st.detail, "frontend");
}

}  // namespace
