// The MLPerf Tiny command set: every response line in the exact form the MLCommons runner
// (benchmark/runner) matches, and every MLPerf error.
#include <cstdio>
#include <cstring>

#include "fakes.h"
#include "harness.h"

namespace {

using kws_test::Fixture;

// The runner's loader: "db load N%" then "db <hex>%" commands of 31 bytes.
void Load(Fixture& f, const uint8_t* data, size_t n, char* log, size_t cap) {
  char cmd[80];
  std::snprintf(cmd, sizeof(cmd), "db load %u%%", static_cast<unsigned>(n));
  f.Send(cmd);
  size_t used = 0;
  auto append = [&](const char* s) {
    const size_t len = std::strlen(s);
    if (used + len < cap) {
      std::memcpy(log + used, s, len + 1);
      used += len;
    }
  };
  append(f.Out());
  for (size_t i = 0; i < n; i += 31) {
    size_t o = std::snprintf(cmd, sizeof(cmd), "db ");
    for (size_t j = i; j < n && j < i + 31; ++j) o += std::snprintf(cmd + o, sizeof(cmd) - o, "%02x", data[j]);
    std::snprintf(cmd + o, sizeof(cmd) - o, "%%");
    f.Send(cmd);
    append(f.Out());
  }
}

KWS_TEST(MlperfName) {
  Fixture f;
  f.Send("name%");
  EXPECT_STREQ(f.Out(), "m-name-dut-[kws-host]\r\nm-ready\r\n");
}

KWS_TEST(MlperfProfile) {
  Fixture f;
  f.Send("profile%");
  EXPECT_STREQ(f.Out(),
               "m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[kws01]\r\nm-ready\r\n");
}

KWS_TEST(MlperfTimestamp) {
  Fixture f;
  f.clock.us = 4000000000u;
  f.Send("timestamp%");
  EXPECT_STREQ(f.Out(), "m-lap-us-4000000000\r\nm-ready\r\n");
  // A '\r' ends a line of ours (a terminal's Enter): "timestamp\r%" is our `timestamp`,
  // then an empty MLPerf line. The MLPerf runner never sends '\r'.
  f.Send("timestamp\r%");
  EXPECT_STREQ(f.Out(), "e-unknown-command cmd=timestamp\r\nm-ready\r\n");
}

KWS_TEST(MlperfDbLoadAndHex) {
  Fixture f;
  uint8_t x[20];
  for (int i = 0; i < 20; ++i) x[i] = static_cast<uint8_t>(0xF0 + i % 16);
  char log[512];
  Load(f, x, 20, log, sizeof(log));
  EXPECT_STREQ(log, "m-[Expecting 20 bytes]\r\nm-ready\r\nm-load-done\r\nm-ready\r\n");
  // Chunks that do not complete the buffer answer only m-ready; extra digits are ignored.
  f.Send("db load 3%");
  EXPECT_STREQ(f.Out(), "m-[Expecting 3 bytes]\r\nm-ready\r\n");
  f.Send("db AB%");
  EXPECT_STREQ(f.Out(), "m-ready\r\n");
  f.Send("db cdef0102%");
  EXPECT_STREQ(f.Out(), "m-load-done\r\nm-ready\r\n");
  EXPECT_EQ(f.payload[0], 0xAB);
  EXPECT_EQ(f.payload[2], 0xEF);
}

KWS_TEST(MlperfInferPrintsTheRunnersLines) {
  Fixture f;
  uint8_t x[20] = {0};
  for (int i = 10; i < 15; ++i) x[i] = 20;  // "yes" row: 100
  char log[512];
  Load(f, x, 20, log, sizeof(log));
  f.clock.us = 1000;
  f.Send("infer 3 2%");
  // 5 invocations of 100-102 us (calls 1..5: 101,102,100 | timed 101,102 ... see fakes).
  // Timed: calls 3,4,5 -> 100 + 101 + 102 = 303 us between the two laps.
  // scores 0,0,100,0 -> (q + 128) / 256: 0.500,0.500,0.890,0.500.
  EXPECT_STREQ(f.Out(),
               "m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-3\r\nm-lap-us-1203\r\n"
               "m-lap-us-1506\r\nm-infer-done\r\nm-results-[0.500,0.500,0.890,0.500]\r\n"
               "m-ready\r\n");
  EXPECT_EQ(f.device.counters().inferences, 5u);
  f.Send("results%");
  EXPECT_STREQ(f.Out(), "m-results-[0.500,0.500,0.890,0.500]\r\nm-ready\r\n");
  f.Send("infer%");  // defaults: N=1, W=10
  const char* out = f.Out();
  EXPECT_TRUE(std::strncmp(out, "m-warmup-start-10\r\nm-warmup-done\r\nm-infer-start-1\r\n", 50) == 0);
  EXPECT_EQ(f.engine.calls, 16);
}

KWS_TEST(MlperfResultsAfterBootAreZero) {
  Fixture f;
  f.Send("results%");
  EXPECT_STREQ(f.Out(), "m-results-[0.000,0.000,0.000,0.000]\r\nm-ready\r\n");
  f.engine.use_preset = true;
  const int8_t p[4] = {127, -128, -1, 0};
  std::memcpy(f.engine.preset, p, 4);
  uint8_t x[20] = {0};
  char log[512];
  Load(f, x, 20, log, sizeof(log));
  f.Send("infer 1 0%");
  f.Out();
  f.Send("results%");
  EXPECT_STREQ(f.Out(), "m-results-[0.996,0.000,0.496,0.500]\r\nm-ready\r\n");
}

KWS_TEST(MlperfErrors) {
  Fixture f;
  const char* cases[][2] = {
      {"bogus%", "e-[Unknown command: bogus]\r\nm-ready\r\n"},
      {"id%", "e-[Unknown command: id]\r\nm-ready\r\n"},  // our commands end with '\n'
      {"abcdefghijklmnopqrstuvwxyz%", "e-[Unknown command: abcdefghijklmnop]\r\nm-ready\r\n"},
      {"name x%", "e-[Too many arguments]\r\nm-ready\r\n"},
      {"db%", "e-[Command 'db' requires a subcommand]\r\nm-ready\r\n"},
      {"db load%", "e-[Command 'db load' requires the # of bytes]\r\nm-ready\r\n"},
      {"db load 0%", "e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n"},
      {"db load x%", "e-[Command 'db load' must be >0 bytes]\r\nm-ready\r\n"},
      {"db load 21%", "e-[Supplied buffer size 21 exceeds maximum of 20]\r\nm-ready\r\n"},
      {"db load 2 3%", "e-[Too many arguments]\r\nm-ready\r\n"},
      {"db 00%", "e-[No 'db load' in progress]\r\nm-ready\r\n"},
      {"infer 1 0%", "e-[Input db has 0 elements, expected 20]\r\nm-ready\r\n"},
      {"db load 4%", "m-[Expecting 4 bytes]\r\nm-ready\r\n"},
      {"db 123%", "e-[Insufficent number of hex digits]\r\nm-ready\r\n"},
      {"db 12zz%", "e-[Invalid hex digit 'zz']\r\nm-ready\r\n"},
      {"db 00 11%", "e-[Too many arguments]\r\nm-ready\r\n"},
      {"infer 1 0%", "e-[Input db has 1 elements, expected 20]\r\nm-ready\r\n"},
      {"infer 0%", "e-[Inference iterations must be >0]\r\nm-ready\r\n"},
      {"infer -1%", "e-[Inference iterations must be >0]\r\nm-ready\r\n"},
      {"infer 1 -1%", "e-[Inference warmup must be >=0]\r\nm-ready\r\n"},
      {"infer 100001 0%", "e-[Inference iterations out of range]\r\nm-ready\r\n"},
      {"infer 1 10001%", "e-[Inference iterations out of range]\r\nm-ready\r\n"},
      {"infer 12345678901234567890 0%", "e-[Inference iterations out of range]\r\nm-ready\r\n"},
      {"infer 1 00000000000000000001%", "e-[Input db has 1 elements, expected 20]\r\nm-ready\r\n"},
      {"infer +1%", "e-[Inference iterations must be >0]\r\nm-ready\r\n"},
      {"infer 1 0 0%", "e-[Too many arguments]\r\nm-ready\r\n"},
      {"results 1%", "e-[Too many arguments]\r\nm-ready\r\n"},
  };
  for (const auto& c : cases) {
    f.Send(c[0]);
    EXPECT_STREQ(f.Out(), c[1]);
  }
  EXPECT_EQ(f.engine.calls, 0);
  EXPECT_EQ(f.device.counters().errors, sizeof(cases) / sizeof(cases[0]) - 1);
}

KWS_TEST(MlperfInferEngineFailure) {
  Fixture f;
  uint8_t x[20] = {0};
  char log[512];
  Load(f, x, 20, log, sizeof(log));
  f.engine.fail_after = 1;  // the second warm-up fails
  f.Send("infer 2 2%");
  EXPECT_STREQ(f.Out(), "m-warmup-start-2\r\ne-internal cmd=infer\r\nm-ready\r\n");
  f.engine.calls = 0;
  f.engine.fail_after = 3;  // warm-ups pass, the second timed run fails
  f.clock.us = 0;
  f.Send("infer 2 2%");
  EXPECT_STREQ(f.Out(),
               "m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-2\r\nm-lap-us-203\r\n"
               "m-lap-us-404\r\ne-internal cmd=infer\r\nm-ready\r\n");
  EXPECT_EQ(f.device.counters().errors, 2u);
}

KWS_TEST(MlperfPayloadCommandDiscardsDbBuffer) {
  Fixture f;
  uint8_t x[20] = {0};
  char log[512];
  Load(f, x, 20, log, sizeof(log));
  f.Send("audio 2 00000000\n");  // starts a payload: the db buffer is gone
  f.clock.ms += 600;
  f.device.Poll();
  f.Out();
  f.Send("infer 1 0%");
  EXPECT_STREQ(f.Out(), "e-[Input db has 0 elements, expected 20]\r\nm-ready\r\n");
}

}  // namespace
