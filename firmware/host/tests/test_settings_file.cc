// The host board's settings file: every value lands in the ModelConfig, and bad input is a
// one-line reason naming the key.
#include <cstring>

#include "harness.h"
#include "settings_file.h"

namespace {

constexpr const char* kGood =
    "labels=_silence_,_unknown_,yes,no\n"
    "frames=49\nchannels=40\noutput_scale=0.00390625\noutput_zero_point=-128\n"
    "clip_samples=16000\narena_size=30000\n"
    "sha256=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
    "sample_rate=16000\nwindow_size_ms=30\nwindow_stride_ms=20\nenable_pcan=1\n"
    "pcan_strength=0.95\nscale_shift=6\naverage_window_ms=1000\ndetection_threshold=200\n"
    "suppression_ms=1500\nminimum_count=3\n";

KWS_TEST(ParsesEveryKey) {
  static kws_host::SettingsFile s;
  char why[160] = {0};
  EXPECT_TRUE(kws_host::ParseSettings(kGood, &s, why, sizeof(why)));
  EXPECT_STREQ(why, "");
  const kws::ModelConfig& c = s.config;
  EXPECT_EQ(c.spec.num_labels, 4);
  EXPECT_STREQ(c.spec.labels[2], "yes");
  EXPECT_EQ(c.spec.frames * c.spec.channels, 1960);
  EXPECT_EQ(c.spec.output_zero_point, -128);
  EXPECT_TRUE(c.spec.output_scale == 0.00390625f);
  EXPECT_EQ(c.spec.clip_samples, 16000);
  EXPECT_EQ(c.arena_size, 30000);
  EXPECT_EQ(c.frontend.num_channels, 40);
  EXPECT_EQ(c.spec.recognizer.detection_threshold, 200);
  EXPECT_EQ(std::strlen(c.sha256), 64);
}

KWS_TEST(RejectsBadInputNamingTheKey) {
  struct Case {
    const char* append;
    const char* want;
  };
  const Case cases[] = {
      {"frames=0\n", "frames: invalid value '0'"},
      {"colour=blue\n", "colour: unknown key"},
      {"labels=a,,b\n", "labels: invalid value 'a,,b'"},
      {"sha256=abc\n", "sha256: invalid value 'abc'"},
      {"garbage\n", "line 19: not key=value"},
  };
  for (const Case& c : cases) {
    static char text[2048];
    std::strcpy(text, kGood);
    std::strcat(text, c.append);
    static kws_host::SettingsFile s;
    s = kws_host::SettingsFile{};
    char why[160] = {0};
    EXPECT_TRUE(!kws_host::ParseSettings(text, &s, why, sizeof(why)));
    EXPECT_STREQ(why, c.want);
  }
  static kws_host::SettingsFile s;
  char why[160] = {0};
  EXPECT_TRUE(!kws_host::ParseSettings("frames=49\n", &s, why, sizeof(why)));
  EXPECT_STREQ(why, "labels: missing");
}

}  // namespace
