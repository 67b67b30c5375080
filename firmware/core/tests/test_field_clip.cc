// Field clips (field_clip.h, PROTOCOL.md "Field clips"): the band, the one clip buffer, the
// m-clip framing (length, CRC-32, base64 of little-endian int16) and the commands' errors.
#include <cstdio>
#include <cstring>

#include "base64.h"
#include "crc32.h"
#include "fakes.h"
#include "field_clip.h"
#include "harness.h"

namespace {

using kws_test::Fixture;

// A fixture with a field-clip buffer of one test clip (16 samples), booted.
struct ClipFixture {
  ClipFixture() : f(false), clip(pcm, 16) {
    f.device.AttachFieldClip(&clip);
    f.device.Begin(kws::BootStatus{});
    f.Out();
  }
  // "audio" with `n` samples of `level`: FakeFrontEnd/FakeEngine make score(row 0) follow it.
  const char* Audio(const int16_t* samples, size_t n) {
    uint8_t bytes[32];
    for (size_t i = 0; i < n; ++i) {
      bytes[2 * i] = static_cast<uint8_t>(samples[i] & 0xFF);
      bytes[2 * i + 1] = static_cast<uint8_t>((samples[i] >> 8) & 0xFF);
    }
    char line[64];
    std::snprintf(line, sizeof(line), "audio %u %08lx\n", static_cast<unsigned>(2 * n),
                  static_cast<unsigned long>(kws::Crc32(bytes, 2 * n)));
    f.Send(line);
    f.SendBytes(bytes, 2 * n);
    return f.Out();
  }
  Fixture f;
  int16_t pcm[16] = {0};
  kws::FieldClip clip;
};

// The m-clip line the device must print for this clip (zero-padded to 16 samples).
void ExpectedClip(char* out, size_t cap, uint32_t seq, const char* head, const int16_t* s,
                  size_t n) {
  uint8_t bytes[32] = {0};
  for (size_t i = 0; i < n; ++i) {
    bytes[2 * i] = static_cast<uint8_t>(s[i] & 0xFF);
    bytes[2 * i + 1] = static_cast<uint8_t>((s[i] >> 8) & 0xFF);
  }
  char b64[kws::Base64Length(32) + 1] = {0};
  kws::Base64Encode(bytes, 32, b64, sizeof(b64) - 1);
  std::snprintf(out, cap, "m-clip seq=%u %s n=32 crc=%08lx b64=%s\r\nm-ready\r\n",
                static_cast<unsigned>(seq), head,
                static_cast<unsigned long>(kws::Crc32(bytes, 32)), b64);
}

const int16_t kQuiet[8] = {256, 512, -256, 0, 1024, 0, 0, 0};  // top: _silence_ score 6

KWS_TEST(FieldClipOffByDefault) {
  ClipFixture c;
  c.f.Send("clipband\n");
  EXPECT_STREQ(c.f.Out(), "m-clipband state=off\r\nm-ready\r\n");
  c.Audio(kQuiet, 8);
  c.f.Send("clip\n");
  EXPECT_STREQ(c.f.Out(), "m-clip n=0\r\nm-ready\r\n");
}

KWS_TEST(FieldClipKeepsAClipInTheBandAndHandsItOverOnce) {
  ClipFixture c;
  c.f.Send("clipband -5 10\n");
  EXPECT_STREQ(c.f.Out(), "m-clipband state=on lo=-5 hi=10\r\nm-ready\r\n");
  EXPECT_STREQ(c.Audio(kQuiet, 8),
               "m-audio idx=0 label=_silence_ score=6 us=101 scores=6,0,0,2\r\nm-ready\r\n");
  c.f.Send("clip\n");
  char want[256];
  ExpectedClip(want, sizeof(want), 1, "idx=0 label=_silence_ score=6 scores=6,0,0,2", kQuiet, 8);
  EXPECT_STREQ(c.f.Out(), want);
  c.f.Send("clip\n");  // taken: the buffer is empty until a new clip falls in the band
  EXPECT_STREQ(c.f.Out(), "m-clip n=0\r\nm-ready\r\n");
}

KWS_TEST(FieldClipIgnoresScoresOutsideTheBandAndKeepsTheLast) {
  ClipFixture c;
  c.f.Send("clipband 7 20\n");
  c.f.Out();
  c.Audio(kQuiet, 8);  // score 6: below the band
  c.f.Send("clip\n");
  EXPECT_STREQ(c.f.Out(), "m-clip n=0\r\nm-ready\r\n");
  const int16_t louder[8] = {512, 512, 512, 512, 512, 0, 0, 0};  // row 0 = 10
  const int16_t loud[8] = {1024, 512, 512, 512, 512, 0, 0, 0};   // row 0 = 12
  c.Audio(louder, 8);
  c.Audio(kQuiet, 8);  // out of the band: does not replace the held clip
  c.Audio(loud, 8);
  c.f.Send("clip\n");
  char want[256];
  ExpectedClip(want, sizeof(want), 2, "idx=0 label=_silence_ score=12 scores=12,0,0,10", loud, 8);
  EXPECT_STREQ(c.f.Out(), want);
}

KWS_TEST(FieldClipFeatureInferenceHasNoAudio) {
  ClipFixture c;
  c.f.Send("clipband -128 127\n");
  c.f.Out();
  uint8_t x[20] = {0};
  char line[64];
  std::snprintf(line, sizeof(line), "infer 20 %08lx\n", static_cast<unsigned long>(kws::Crc32(x, 20)));
  c.f.Send(line);
  c.f.SendBytes(x, 20);
  c.f.Out();
  c.f.Send("clip\n");
  EXPECT_STREQ(c.f.Out(), "m-clip n=0\r\nm-ready\r\n");
}

KWS_TEST(FieldClipBandOffAndReset) {
  ClipFixture c;
  c.f.Send("clipband -128 127\n");
  c.f.Out();
  c.f.Send("clipband off\n");
  EXPECT_STREQ(c.f.Out(), "m-clipband state=off\r\nm-ready\r\n");
  c.Audio(kQuiet, 8);
  c.f.Send("clip\n");
  EXPECT_STREQ(c.f.Out(), "m-clip n=0\r\nm-ready\r\n");
  c.f.Send("clipband 0 10\n");
  c.f.Out();
  c.Audio(kQuiet, 8);
  c.f.device.Begin(kws::BootStatus{});  // a restart: band back to off, buffer empty
  c.f.Out();
  c.f.Send("clipband\n");
  EXPECT_STREQ(c.f.Out(), "m-clipband state=off\r\nm-ready\r\n");
  c.f.Send("clip\n");
  EXPECT_STREQ(c.f.Out(), "m-clip n=0\r\nm-ready\r\n");
}

KWS_TEST(FieldClipBootBand) {
  Fixture f(false);
  int16_t pcm[16];
  kws::FieldClip clip(pcm, 16, kws::ClipBand{true, 0, 20});
  f.device.AttachFieldClip(&clip);
  f.device.Begin(kws::BootStatus{});
  f.Out();
  f.Send("clipband\n");
  EXPECT_STREQ(f.Out(), "m-clipband state=on lo=0 hi=20\r\nm-ready\r\n");
}

KWS_TEST(FieldClipBadArgs) {
  ClipFixture c;
  const char* bad[] = {"clipband 5 4\n", "clipband 0 128\n", "clipband -129 0\n",
                       "clipband on\n",  "clipband 1 2 3\n", "clipband +1 2\n",
                       "clipband - 2\n", "clipband 0001 2\n", "clip 1\n"};
  for (const char* cmd : bad) {
    c.f.Send(cmd);
    const bool is_clip = std::strncmp(cmd, "clip ", 5) == 0;
    EXPECT_STREQ(c.f.Out(), is_clip ? "e-bad-args cmd=clip args=none\r\nm-ready\r\n"
                                    : "e-bad-args cmd=clipband lo=-128-127 hi=-128-127|off\r\n"
                                      "m-ready\r\n");
  }
  c.f.Send("clipband\n");  // the band did not change
  EXPECT_STREQ(c.f.Out(), "m-clipband state=off\r\nm-ready\r\n");
}

KWS_TEST(FieldClipWithoutBufferOrInSafeMode) {
  Fixture f;
  f.Send("clip\n");
  EXPECT_STREQ(f.Out(), "e-not-ready reason=no-clip-buffer\r\nm-ready\r\n");
  kws::BootStatus bad;
  bad.reason = "op";
  Fixture s(true, bad);
  s.Send("clipband 0 1\n");
  EXPECT_STREQ(s.Out(), "e-not-ready reason=op\r\nm-ready\r\n");
}

KWS_TEST(ParseInt8Bounds) {
  int8_t v = 0;
  EXPECT_TRUE(kws::ParseInt8("-128", 4, &v) && v == -128);
  EXPECT_TRUE(kws::ParseInt8("127", 3, &v) && v == 127);
  EXPECT_TRUE(kws::ParseInt8("0", 1, &v) && v == 0);
  EXPECT_TRUE(!kws::ParseInt8("128", 3, &v));
  EXPECT_TRUE(!kws::ParseInt8("-129", 4, &v));
  EXPECT_TRUE(!kws::ParseInt8("-", 1, &v));
  EXPECT_TRUE(!kws::ParseInt8("", 0, &v));
  EXPECT_TRUE(!kws::ParseInt8("1a", 2, &v));
}

}  // namespace
