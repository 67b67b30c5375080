// Our command set and every malformed-input class of PROTOCOL.md, end to end through the
// byte-level parser with fake seams.
#include <cstdio>
#include <cstring>

#include "base64.h"
#include "crc32.h"
#include "fakes.h"
#include "harness.h"

namespace {

using kws_test::Fixture;

// "infer <len> <crc>\n" + payload.
void SendPayload(Fixture& f, const char* cmd, const uint8_t* data, size_t len) {
  char line[64];
  std::snprintf(line, sizeof(line), "%s %u %08lx\n", cmd, static_cast<unsigned>(len),
                static_cast<unsigned long>(kws::Crc32(data, len)));
  f.Send(line);
  f.SendBytes(data, len);
}

KWS_TEST(BootBannerThenReady) {
  Fixture f(false);
  f.device.Begin(kws::BootStatus{});
  EXPECT_STREQ(f.Out(), "m-boot board=host fw=1.2.3 proto=1\r\nm-ready\r\n");
  EXPECT_TRUE(!f.device.safe_mode());
}

KWS_TEST(IdAndLabels) {
  Fixture f;
  f.Send("id\n");
  EXPECT_STREQ(f.Out(),
               "m-id board=host fw=1.2.3 proto=1 model_sha256="
               "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff arena_size=4096 "
               "arena_used=3000 input=4x5 labels=4 latency=measured\r\nm-ready\r\n");
  f.Send("labels\r\n");
  EXPECT_STREQ(f.Out(), "m-labels _silence_,_unknown_,yes,no\r\nm-ready\r\n");
}

KWS_TEST(InferFeatureVector) {
  Fixture f;
  uint8_t x[20] = {0};
  for (int i = 10; i < 15; ++i) x[i] = 20;  // row 2 ("yes") sums to 100
  x[0] = static_cast<uint8_t>(-3);
  SendPayload(f, "infer", x, sizeof(x));
  EXPECT_STREQ(f.Out(), "m-infer idx=2 label=yes score=100 us=101 scores=-3,0,100,0\r\nm-ready\r\n");
  EXPECT_EQ(f.engine.last_in_len, 20u);
  EXPECT_EQ(f.device.counters().inferences, 1u);
}

KWS_TEST(PayloadMayHoldNewlinePercentAndNul) {
  Fixture f;
  uint8_t x[20] = {'\n', '%', 0, '\r', '\n', '%'};
  SendPayload(f, "infer", x, sizeof(x));
  EXPECT_STREQ(f.Out(), "m-infer idx=0 label=_silence_ score=70 us=101 scores=70,37,0,0\r\nm-ready\r\n");
}

KWS_TEST(AudioRunsFrontEndThenInference) {
  Fixture f;
  // 8 samples (short audio): zero-padded to the 16-sample clip.
  int16_t pcm[8] = {256, 512, -256, 0, 1024, 0, 0, 0};
  uint8_t bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[2 * i] = static_cast<uint8_t>(pcm[i] & 0xFF);
    bytes[2 * i + 1] = static_cast<uint8_t>((pcm[i] >> 8) & 0xFF);
  }
  SendPayload(f, "audio", bytes, sizeof(bytes));
  // features = pcm[i % 16] / 256: row 0 = 1,2,-1,0,4 -> 6; rows 1..3 = 0 (padding) except
  // row 3 = pcm[15..19 % 16] = 0,1,2,-1,0 -> 2.
  EXPECT_STREQ(f.Out(), "m-audio idx=0 label=_silence_ score=6 us=101 scores=6,0,0,2\r\nm-ready\r\n");
  EXPECT_EQ(f.front_end.last_samples, 16u);
}

KWS_TEST(FeaturesReturnsBase64AndCrc) {
  Fixture f;
  uint8_t bytes[32];
  for (int i = 0; i < 16; ++i) {
    const int16_t s = static_cast<int16_t>((i - 8) * 256);
    bytes[2 * i] = static_cast<uint8_t>(s & 0xFF);
    bytes[2 * i + 1] = static_cast<uint8_t>((s >> 8) & 0xFF);
  }
  SendPayload(f, "features", bytes, sizeof(bytes));
  int8_t want[20];
  for (int i = 0; i < 20; ++i) want[i] = static_cast<int8_t>((i % 16) - 8);
  char b64[40] = {0};
  kws::Base64Encode(reinterpret_cast<const uint8_t*>(want), 20, b64, sizeof(b64) - 1);
  char expected[160];
  std::snprintf(expected, sizeof(expected), "m-features n=20 crc=%08lx b64=%s\r\nm-ready\r\n",
                static_cast<unsigned long>(kws::Crc32(reinterpret_cast<const uint8_t*>(want), 20)),
                b64);
  EXPECT_STREQ(f.Out(), expected);
  EXPECT_EQ(f.device.counters().inferences, 0u);
}

KWS_TEST(BenchReportsPercentiles) {
  Fixture f;
  f.Send("bench 10 2\n");
  // latency = 100 + calls % 3: calls 3..12 -> 100,101,102,100,101,102,100,101,102,100.
  EXPECT_STREQ(f.Out(),
               "m-bench n=10 warmup=2 min_us=100 p50_us=101 p95_us=102 max_us=102 mean_us=100 "
               "latency=measured\r\nm-ready\r\n");
  EXPECT_EQ(f.engine.calls, 12);
  f.Send("bench 1000 100\n");
  EXPECT_TRUE(std::strstr(f.Out(), "m-bench n=1000 warmup=100 min_us=100 ") != nullptr);
}

KWS_TEST(StatsCountsHistogramDetectionsAndErrors) {
  Fixture f;
  f.engine.use_preset = true;
  const int8_t yes_hi[4] = {-128, -128, 100, -128};  // 228 >= 200: a detection of "yes"
  const int8_t no_lo[4] = {-128, -128, -128, 50};    // 178 < 200: not a detection
  uint8_t x[20] = {0};
  std::memcpy(f.engine.preset, yes_hi, 4);
  SendPayload(f, "infer", x, sizeof(x));
  SendPayload(f, "infer", x, sizeof(x));
  std::memcpy(f.engine.preset, no_lo, 4);
  SendPayload(f, "infer", x, sizeof(x));
  f.Send("bogus\n");
  f.Out();
  f.clock.ms += 1234;
  f.Send("stats\n");
  // hist bins: (100+128)/16 = 14 (x2), (50+128)/16 = 11.
  EXPECT_STREQ(f.Out(),
               "m-stats uptime_ms=1234 inferences=3 errors=1 crc_errors=0 timeouts=0 "
               "detections=yes:2,no:0 hist=0,0,0,0,0,0,0,0,0,0,0,1,0,0,2,0\r\nm-ready\r\n");
}

KWS_TEST(ResetAnswersThenRestarts) {
  Fixture f;
  f.Send("reset\n");
  EXPECT_STREQ(f.Out(), "m-reset\r\nm-ready\r\n");
  EXPECT_EQ(f.system.resets, 1);
}

KWS_TEST(EmptyLinesAreIgnored) {
  Fixture f;
  f.Send("\n\r\n   \n%\r%\r\r  \r");
  EXPECT_STREQ(f.Out(), "");
}

// ---------------------------------------------------------------- malformed input classes

KWS_TEST(ErrUnknownCommandTruncatesTo16) {
  Fixture f;
  f.Send("frobnicate 1 2\n");
  EXPECT_STREQ(f.Out(), "e-unknown-command cmd=frobnicate\r\nm-ready\r\n");
  f.Send("abcdefghijklmnopqrstuvwxyz\n");
  EXPECT_STREQ(f.Out(), "e-unknown-command cmd=abcdefghijklmnop\r\nm-ready\r\n");
  f.Send("ID\n");  // commands are case-sensitive
  EXPECT_STREQ(f.Out(), "e-unknown-command cmd=ID\r\nm-ready\r\n");
}

KWS_TEST(ErrLineTooLongDiscardsRest) {
  Fixture f;
  char line[200];
  std::memset(line, 'a', 128);
  std::strcpy(line + 128, "\n");  // exactly 128: a line, not too long
  f.Send(line);
  EXPECT_STREQ(f.Out(), "e-unknown-command cmd=aaaaaaaaaaaaaaaa\r\nm-ready\r\n");
  std::memset(line, 'a', 128);
  std::strcpy(line + 128, "\r\n");  // 128 + "\r\n" is fine too
  f.Send(line);
  EXPECT_STREQ(f.Out(), "e-unknown-command cmd=aaaaaaaaaaaaaaaa\r\nm-ready\r\n");
  std::memset(line, 'a', 150);
  std::strcpy(line + 150, "\nid\n");  // answered at byte 129; the rest up to '\n' dropped
  f.Send(line);
  const char* out = f.Out();
  EXPECT_TRUE(std::strncmp(out, "e-line-too-long max=128\r\nm-ready\r\nm-id ", 39) == 0);
  std::memset(line, 'a', 128);
  std::memset(line, 'a', 129);
  std::strcpy(line + 129, "\r\n");  // 129 bytes before "\r\n": too long
  f.Send(line);
  EXPECT_STREQ(f.Out(), "e-line-too-long max=128\r\nm-ready\r\n");
  std::memset(line, 'a', 150);
  std::strcpy(line + 150, "\rid\r");  // a '\r' also ends the discarded rest
  f.Send(line);
  out = f.Out();
  EXPECT_TRUE(std::strncmp(out, "e-line-too-long max=128\r\nm-ready\r\nm-id ", 39) == 0);
  // Endless garbage without a terminator is answered once, not buffered.
  for (int i = 0; i < 1000; ++i) f.Send("zzzzzzzzzz");
  EXPECT_STREQ(f.Out(), "e-line-too-long max=128\r\nm-ready\r\n");
}

KWS_TEST(ErrBadChar) {
  Fixture f;
  const uint8_t ctrl[] = {'i', 'd', 0x01, '\n'};
  f.SendBytes(ctrl, sizeof(ctrl));
  EXPECT_STREQ(f.Out(), "e-bad-char\r\nm-ready\r\n");
  const uint8_t high[] = {'i', 0xC3, 0xA9, '\n'};
  f.SendBytes(high, sizeof(high));
  EXPECT_STREQ(f.Out(), "e-bad-char\r\nm-ready\r\n");
  const uint8_t nul[] = {0, '\n'};
  f.SendBytes(nul, sizeof(nul));
  EXPECT_STREQ(f.Out(), "e-bad-char\r\nm-ready\r\n");
  f.Send("\tid%");  // MLPerf lines follow the same rules
  EXPECT_STREQ(f.Out(), "e-bad-char\r\nm-ready\r\n");
  EXPECT_EQ(f.device.counters().errors, 4u);
}

KWS_TEST(ErrBadArgs) {
  Fixture f;
  const char* cases[][2] = {
      {"id x\n", "e-bad-args cmd=id args=none\r\nm-ready\r\n"},
      {"labels 1\n", "e-bad-args cmd=labels args=none\r\nm-ready\r\n"},
      {"stats now\n", "e-bad-args cmd=stats args=none\r\nm-ready\r\n"},
      {"reset 1\n", "e-bad-args cmd=reset args=none\r\nm-ready\r\n"},
      {"infer\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer 20\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer 20 00000000 9\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer x20 00000000\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer -20 00000000\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer 1234567890 00000000\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer 20 0000000\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer 20 000000000\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"infer 20 0000000g\n", "e-bad-args cmd=infer len=20 crc=<crc32>\r\nm-ready\r\n"},
      {"audio 2\n", "e-bad-args cmd=audio len=2-32,even crc=<crc32>\r\nm-ready\r\n"},
      {"features 2 zz\n", "e-bad-args cmd=features len=2-32,even crc=<crc32>\r\nm-ready\r\n"},
      {"bench\n", "e-bad-args cmd=bench n=1-1000 warmup=0-100\r\nm-ready\r\n"},
      {"bench 0 0\n", "e-bad-args cmd=bench n=1-1000 warmup=0-100\r\nm-ready\r\n"},
      {"bench 1001 0\n", "e-bad-args cmd=bench n=1-1000 warmup=0-100\r\nm-ready\r\n"},
      {"bench 1 101\n", "e-bad-args cmd=bench n=1-1000 warmup=0-100\r\nm-ready\r\n"},
      {"bench 1 x\n", "e-bad-args cmd=bench n=1-1000 warmup=0-100\r\nm-ready\r\n"},
      {"listen maybe\n", "e-bad-args cmd=listen state=on|off\r\nm-ready\r\n"},
  };
  for (const auto& c : cases) {
    f.Send(c[0]);
    EXPECT_STREQ(f.Out(), c[1]);
  }
  EXPECT_EQ(f.engine.calls, 0);
  EXPECT_EQ(f.device.counters().errors, sizeof(cases) / sizeof(cases[0]));
}

KWS_TEST(ErrLengthReadsNoPayload) {
  Fixture f;
  f.Send("infer 19 00000000\n");
  EXPECT_STREQ(f.Out(), "e-length cmd=infer got=19 want=20\r\nm-ready\r\n");
  f.Send("infer 0 00000000\n");
  EXPECT_STREQ(f.Out(), "e-length cmd=infer got=0 want=20\r\nm-ready\r\n");
  f.Send("audio 0 00000000\n");
  EXPECT_STREQ(f.Out(), "e-length cmd=audio got=0 want=2-32\r\nm-ready\r\n");
  f.Send("audio 33 00000000\n");
  EXPECT_STREQ(f.Out(), "e-length cmd=audio got=33 want=2-32\r\nm-ready\r\n");
  f.Send("features 3 00000000\n");  // odd: not whole samples
  EXPECT_STREQ(f.Out(), "e-length cmd=features got=3 want=2-32\r\nm-ready\r\n");
  f.Send("id\n");  // the parser is back in line mode at once
  EXPECT_TRUE(std::strncmp(f.Out(), "m-id ", 5) == 0);
}

KWS_TEST(ErrCrcMismatch) {
  Fixture f;
  uint8_t x[20] = {1, 2, 3};
  f.Send("infer 20 deadbeef\n");
  f.SendBytes(x, sizeof(x));
  char want[80];
  std::snprintf(want, sizeof(want), "e-crc got=%08lx want=deadbeef\r\nm-ready\r\n",
                static_cast<unsigned long>(kws::Crc32(x, 20)));
  EXPECT_STREQ(f.Out(), want);
  EXPECT_EQ(f.engine.calls, 0);
  EXPECT_EQ(f.device.counters().crc_errors, 1u);
  EXPECT_EQ(f.device.counters().errors, 1u);
  f.Send("infer 20 DEADBEEF\n");  // uppercase CRC accepted
  f.SendBytes(x, sizeof(x));
  EXPECT_TRUE(std::strncmp(f.Out(), "e-crc got=", 10) == 0);
}

KWS_TEST(ErrTimeoutAfter500msGap) {
  Fixture f;
  uint8_t x[20] = {0};
  f.Send("infer 20 00000000\n");
  f.SendBytes(x, 5);
  f.clock.ms += 500;  // exactly 500 ms: still waiting
  f.device.Poll();
  EXPECT_STREQ(f.Out(), "");
  f.SendBytes(x, 5);
  f.clock.ms += 501;
  f.device.Poll();
  EXPECT_STREQ(f.Out(), "e-timeout got=10 want=20\r\nm-ready\r\n");
  EXPECT_EQ(f.device.counters().timeouts, 1u);
  f.Send("id\n");  // the dropped payload leaves the parser in line mode
  EXPECT_TRUE(std::strncmp(f.Out(), "m-id ", 5) == 0);
  f.Send("audio 4 00000000\n");  // no byte at all
  f.clock.ms += 501;
  f.device.Poll();
  EXPECT_STREQ(f.Out(), "e-timeout got=0 want=4\r\nm-ready\r\n");
}

KWS_TEST(ErrNotReadyInSafeMode) {
  kws::BootStatus st;
  st.reason = "input-shape";
  std::strcpy(st.detail, "1x49x10");
  Fixture f(false);
  f.device.Begin(st);
  EXPECT_STREQ(f.Out(), "e-boot reason=input-shape detail=1x49x10\r\nm-ready\r\n");
  EXPECT_TRUE(f.device.safe_mode());
  const char* refused[] = {"labels\n", "infer 20 00000000\n", "audio 2 00000000\n",
                           "features 2 00000000\n", "bench 1 0\n", "listen on\n",
                           "db load 20%", "infer 1 0%", "results%"};
  for (const char* cmd : refused) {
    f.Send(cmd);
    EXPECT_STREQ(f.Out(), "e-not-ready reason=input-shape\r\nm-ready\r\n");
  }
  f.Send("id\n");
  EXPECT_TRUE(std::strncmp(f.Out(), "m-id board=host", 15) == 0);
  f.Send("stats\n");
  EXPECT_TRUE(std::strncmp(f.Out(), "m-stats uptime_ms=0 inferences=0 errors=10 ", 43) == 0);
  f.Send("name%");
  EXPECT_STREQ(f.Out(), "m-name-dut-[kws-host]\r\nm-ready\r\n");
  f.Send("reset\n");
  EXPECT_STREQ(f.Out(), "m-reset\r\nm-ready\r\n");
  EXPECT_EQ(f.engine.calls, 0);
}

KWS_TEST(ErrInternalWhenEngineOrFrontEndFails) {
  Fixture f;
  uint8_t x[20] = {0};
  f.engine.fail = true;
  SendPayload(f, "infer", x, sizeof(x));
  EXPECT_STREQ(f.Out(), "e-internal cmd=infer\r\nm-ready\r\n");
  f.Send("bench 3 0\n");
  EXPECT_STREQ(f.Out(), "e-internal cmd=bench\r\nm-ready\r\n");
  f.engine.fail = false;
  f.front_end.fail = true;
  SendPayload(f, "audio", x, 4);
  EXPECT_STREQ(f.Out(), "e-internal cmd=audio\r\nm-ready\r\n");
  SendPayload(f, "features", x, 4);
  EXPECT_STREQ(f.Out(), "e-internal cmd=features\r\nm-ready\r\n");
  EXPECT_EQ(f.device.counters().inferences, 0u);
}

KWS_TEST(BuffersTooSmallForModelIsSafeMode) {
  kws_test::FakeTransport t;
  kws_test::FakeClock c;
  kws_test::FakeFrontEnd fe;
  kws_test::FakeEngine e(c);
  kws_test::FakeSystem s;
  alignas(4) uint8_t payload[16];  // < 2 x clip_samples
  int8_t features[20];
  kws::Device d(t, c, fe, e, s, kws::DeviceConfig{"host", "1", false}, kws_test::TestSpec(),
                kws::DeviceBuffers{payload, sizeof(payload), features, sizeof(features)});
  d.Begin(kws::BootStatus{});
  EXPECT_STREQ(t.Take(), "e-boot reason=arena detail=buffers\r\nm-ready\r\n");
}

KWS_TEST(ListenDetectsFromAudioSource) {
  Fixture f(false);
  kws_test::FakeAudio mic;
  f.device.AttachAudioSource(&mic);
  f.device.Begin(kws::BootStatus{});
  f.Out();
  f.engine.use_preset = true;
  const int8_t yes[4] = {-128, -128, 120, -128};
  std::memcpy(f.engine.preset, yes, 4);
  f.Send("listen on\n");
  EXPECT_STREQ(f.Out(), "m-listen state=on\r\nm-ready\r\n");
  for (int i = 0; i < 3; ++i) {  // minimum_count = 3 results, 100 ms apart
    f.clock.ms += 100;
    mic.time_ms += 100;
    f.device.Poll();
  }
  EXPECT_STREQ(f.Out(), "m-detect label=yes score=248 time_ms=300\r\n");
  f.clock.ms += 50;  // within the period: no inference
  f.device.Poll();
  EXPECT_EQ(f.engine.calls, 3);
  f.Send("listen off\n");
  EXPECT_STREQ(f.Out(), "m-listen state=off\r\nm-ready\r\n");
  // A failing model stops listening after one unsolicited error line.
  f.Send("listen on\n");
  f.Out();
  f.engine.fail = true;
  for (int i = 0; i < 3; ++i) {
    f.clock.ms += 100;
    f.device.Poll();
  }
  EXPECT_STREQ(f.Out(), "e-internal cmd=listen\r\n");
  Fixture g;  // no audio source
  g.Send("listen on\n");
  EXPECT_STREQ(g.Out(), "e-not-ready reason=no-audio-source\r\nm-ready\r\n");
}

}  // namespace

// ---------------------------------------------------------------- a person at a terminal

KWS_TEST(LoneCarriageReturnEndsALine) {
  Fixture f;
  f.Send("id\r");  // picocom/screen send '\r' on Enter
  EXPECT_TRUE(std::strncmp(f.Out(), "m-id board=host ", 16) == 0);
  f.Send("labels\r\n");  // "\r\n" is one line end: one answer
  EXPECT_STREQ(f.Out(), "m-labels _silence_,_unknown_,yes,no\r\nm-ready\r\n");
  f.Send("labels\r\r\n\n");  // then empty lines: ignored
  EXPECT_STREQ(f.Out(), "m-labels _silence_,_unknown_,yes,no\r\nm-ready\r\n");
  // A payload command ended by "\r\n": the '\n' is not the payload's first byte.
  uint8_t x[20];
  for (int i = 0; i < 20; ++i) x[i] = static_cast<uint8_t>(i == 0 ? '\n' : 1);
  char cmd[64];
  std::snprintf(cmd, sizeof(cmd), "infer 20 %08lx\r\n", static_cast<unsigned long>(kws::Crc32(x, 20)));
  f.Send(cmd);
  f.SendBytes(x, sizeof(x));
  EXPECT_TRUE(std::strncmp(f.Out(), "m-infer ", 8) == 0);
  EXPECT_EQ(f.device.counters().errors, 0u);
}

KWS_TEST(HelpListsCommandsWithArguments) {
  Fixture f;
  f.Send("help\r");
  EXPECT_STREQ(f.Out(),
               "m-help id args=none\r\n"
               "m-help labels args=none\r\n"
               "m-help infer len=20 crc=<crc32>\r\n"
               "m-help audio len=2-32,even crc=<crc32>\r\n"
               "m-help features len=2-32,even crc=<crc32>\r\n"
               "m-help bench n=1-1000 warmup=0-100\r\n"
               "m-help stats args=none\r\n"
               "m-help reset args=none\r\n"
               "m-help listen state=on|off\r\n"
               "m-help clipband lo=-128-127 hi=-128-127|off\r\n"
               "m-help clip args=none\r\n"
               "m-help help args=none\r\n"
               "m-help mlperf=name%,profile%,timestamp%,db_load_<N>%,db_<hex>%,infer_<N>_<W>%,results%\r\n"
               "m-ready\r\n");
  f.Send("help me\n");
  EXPECT_STREQ(f.Out(), "e-bad-args cmd=help args=none\r\nm-ready\r\n");
  kws_test::Fixture safe(true, [] {
    kws::BootStatus st;
    st.reason = "arena";
    return st;
  }());
  safe.Send("help\n");  // works in safe mode, like id
  EXPECT_TRUE(std::strncmp(safe.Out(), "m-help id args=none\r\n", 21) == 0);
}
