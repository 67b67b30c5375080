// Unit tests of the building blocks: CRC32, base64, ring buffer, text, recognizer, boot check.
#include <cstring>

#include "base64.h"
#include "boot_check.h"
#include "crc32.h"
#include "fakes.h"
#include "harness.h"
#include "recognizer.h"
#include "ring_buffer.h"
#include "text.h"

namespace {

const uint8_t* U8(const char* s) { return reinterpret_cast<const uint8_t*>(s); }

KWS_TEST(Crc32MatchesZlib) {
  EXPECT_EQ(kws::Crc32(U8("123456789"), 9), 0xCBF43926u);  // the check value of CRC-32
  EXPECT_EQ(kws::Crc32(U8(""), 0), 0u);
  // zlib.crc32(b"The quick brown fox jumps over the lazy dog") == 0x414fa339
  const char* fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(kws::Crc32(U8(fox), std::strlen(fox)), 0x414FA339u);
  // Incremental = one shot.
  uint32_t c = kws::Crc32Update(0, U8(fox), 10);
  c = kws::Crc32Update(c, U8(fox) + 10, std::strlen(fox) - 10);
  EXPECT_EQ(c, 0x414FA339u);
}

KWS_TEST(Base64Rfc4648Vectors) {
  const char* in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    char out[16] = {0};
    const size_t n = kws::Base64Encode(U8(in[i]), std::strlen(in[i]), out, sizeof(out) - 1);
    out[n] = '\0';
    EXPECT_STREQ(out, want[i]);
    EXPECT_EQ(n, kws::Base64Length(std::strlen(in[i])));
  }
  const uint8_t high[3] = {0xFB, 0xFF, 0xBF};
  char out[8] = {0};
  EXPECT_EQ(kws::Base64Encode(high, 3, out, 4), 4u);
  out[4] = '\0';
  EXPECT_STREQ(out, "+/+/");
  EXPECT_EQ(kws::Base64Encode(high, 3, out, 3), 0u);  // too small: nothing written
}

KWS_TEST(RingBufferDropsOldestWhenFull) {
  kws::RingBuffer<int, 3> r;
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(r.Push(1));
  EXPECT_TRUE(r.Push(2));
  EXPECT_TRUE(r.Push(3));
  EXPECT_TRUE(r.full());
  EXPECT_TRUE(!r.Push(4));  // 1 dropped
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r.front(), 2);
  EXPECT_EQ(r.back(), 4);
  EXPECT_EQ(r[1], 3);
  r.PopFront();
  r.PopFront();
  r.PopFront();
  r.PopFront();  // no-op when empty
  EXPECT_TRUE(r.empty());
}

KWS_TEST(ParsersAreStrict) {
  uint32_t v = 0;
  EXPECT_TRUE(kws::ParseDecimal("1960", 4, &v));
  EXPECT_EQ(v, 1960u);
  EXPECT_TRUE(kws::ParseDecimal("999999999", 9, &v));
  EXPECT_TRUE(!kws::ParseDecimal("1000000000", 10, &v));  // over 9 digits
  EXPECT_TRUE(!kws::ParseDecimal("-1", 2, &v));
  EXPECT_TRUE(!kws::ParseDecimal("+1", 2, &v));
  EXPECT_TRUE(!kws::ParseDecimal("1a", 2, &v));
  EXPECT_TRUE(!kws::ParseDecimal("", 0, &v));
  EXPECT_TRUE(kws::ParseHex32("5a1f03C2", 8, &v));
  EXPECT_EQ(v, 0x5A1F03C2u);
  EXPECT_TRUE(!kws::ParseHex32("5a1f03c", 7, &v));
  EXPECT_TRUE(!kws::ParseHex32("5a1f03c2a", 9, &v));
  EXPECT_TRUE(!kws::ParseHex32("5a1f03cg", 8, &v));
  kws::Token t[2];
  EXPECT_EQ(kws::Tokenize("  a  bc ", 8, t, 2), 2u);
  EXPECT_TRUE(kws::TokenIs(t[1], "bc"));
  EXPECT_EQ(kws::Tokenize("a b c", 5, t, 2), 3u);  // more than max
  EXPECT_EQ(kws::Tokenize("   ", 3, t, 2), 0u);
}

KWS_TEST(LineWriterFormatsNumbers) {
  kws_test::FakeTransport t;
  kws::LineWriter w(t);
  w.U32(0).Char(' ').U32(4294967295u).Char(' ').I32(-128).Char(' ').I32(-2147483647 - 1);
  w.Char(' ').Hex32(0xCBF43926u).Char(' ').Fixed3(0.99609375).Char(' ').Fixed3(-0.5);
  w.Char(' ').Fixed3(0.0).Char(' ').Fixed3(-0.0004).Char(' ').Fixed3(12.0).End();
  EXPECT_STREQ(t.Take(),
               "0 4294967295 -128 -2147483648 cbf43926 0.996 -0.500 0.000 0.000 12.000\r\n");
  // Lines longer than the internal buffer are streamed whole.
  for (int i = 0; i < 300; ++i) w.Char('x');
  w.End();
  EXPECT_EQ(std::strlen(t.Take()), 302u);
}

// ---------------------------------------------------------------- recognizer

const char* const kLabels[] = {"_silence_", "_unknown_", "yes", "no"};

struct Scores {
  int8_t s[4];
};
Scores Top(int label, int8_t score) {
  Scores r{{-128, -128, -128, -128}};
  r.s[label] = score;
  return r;
}

KWS_TEST(RecognizerNeedsMinimumCount) {
  kws::Recognizer r;
  EXPECT_TRUE(r.Init({1000, 200, 1500, 3}, 4, kLabels) == kws::RecognizerStatus::kOk);
  kws::Recognition out;
  const Scores yes = Top(2, 127);
  r.Process(yes.s, 0, &out);
  EXPECT_TRUE(!out.decided);
  r.Process(yes.s, 100, &out);
  EXPECT_TRUE(!out.decided);
  r.Process(yes.s, 200, &out);
  EXPECT_TRUE(out.decided);
  EXPECT_EQ(out.top_label, 2);
  EXPECT_EQ(out.score, 255);
  EXPECT_TRUE(out.is_new);
}

KWS_TEST(RecognizerAveragesThresholdAndSilence) {
  kws::Recognizer r;
  r.Init({1000, 200, 1500, 2}, 4, kLabels);
  kws::Recognition out;
  // Averages (s + 128): (255 + 144) / 2 = 199 < 200: no detection.
  Scores a = Top(2, 127);
  Scores b = Top(2, 16);
  r.Process(a.s, 0, &out);
  r.Process(b.s, 10, &out);
  EXPECT_TRUE(out.decided);
  EXPECT_EQ(out.score, 199);
  EXPECT_TRUE(!out.is_new);
  // (255 + 145) / 2 = 200 >= 200: detection (after the window drops both old results).
  Scores c = Top(2, 17);
  r.Process(a.s, 2000, &out);
  r.Process(c.s, 2010, &out);
  EXPECT_EQ(out.score, 200);
  EXPECT_TRUE(out.is_new);
  // _silence_ and _unknown_ are never detections.
  kws::Recognizer q;
  q.Init({1000, 200, 1500, 1}, 4, kLabels);
  Scores sil = Top(0, 127);
  q.Process(sil.s, 0, &out);
  EXPECT_EQ(out.top_label, 0);
  EXPECT_TRUE(!out.is_new);
}

KWS_TEST(RecognizerSuppressesRepeatsAndDropsOldResults) {
  kws::Recognizer r;
  r.Init({500, 200, 1500, 1}, 4, kLabels);
  kws::Recognition out;
  const Scores yes = Top(2, 127);
  const Scores no = Top(3, 127);
  r.Process(yes.s, 1000, &out);
  EXPECT_TRUE(out.is_new);
  r.Process(yes.s, 2000, &out);  // same label within 1500 ms
  EXPECT_TRUE(!out.is_new);
  r.Process(yes.s, 2500, &out);  // exactly 1500 ms: still suppressed ("more than")
  EXPECT_TRUE(!out.is_new);
  r.Process(yes.s, 2501, &out);
  EXPECT_TRUE(out.is_new);
  r.Process(no.s, 3200, &out);  // a different label is not suppressed; window 500 ms
  EXPECT_EQ(out.top_label, 3);
  EXPECT_TRUE(out.is_new);
  EXPECT_TRUE(r.Process(yes.s, 3199, &out) == kws::RecognizerStatus::kOlderResult);
  EXPECT_TRUE(!out.decided);
  EXPECT_TRUE(r.Process(yes.s, 3200, &out) == kws::RecognizerStatus::kOk);  // equal time ok
  kws::Recognizer bad;
  EXPECT_TRUE(bad.Init({1000, 200, 1500, 3}, 0, kLabels) == kws::RecognizerStatus::kBadConfig);
  EXPECT_TRUE(bad.Init({1000, 200, 1500, 3}, kws::kMaxLabels + 1, kLabels) ==
              kws::RecognizerStatus::kBadConfig);
}

// ---------------------------------------------------------------- boot check

kws::ModelFacts GoodFacts() {
  static const char* const ops[] = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"};
  kws::ModelFacts f;
  f.schema_version = 3;
  f.allocate_ok = true;
  f.input.dims = 3;
  f.input.shape[0] = 1;
  f.input.shape[1] = 4;
  f.input.shape[2] = 5;
  f.input.is_int8 = true;
  f.input.type_name = "int8";
  f.output.dims = 2;
  f.output.shape[0] = 1;
  f.output.shape[1] = 4;
  f.output.is_int8 = true;
  f.output.type_name = "int8";
  f.model_bytes = 1000;
  f.arena_size = 2000;
  f.ops = ops;
  f.op_count = 4;
  return f;
}

void ExpectBoot(const kws::ModelFacts& f, const char* reason, const char* detail) {
  const kws::BootStatus st = kws::CheckModel(f, kws_test::TestSpec(), kws::BoardBudget{5000, 3000});
  EXPECT_STREQ(st.reason == nullptr ? "ok" : st.reason, reason);
  EXPECT_STREQ(st.detail, detail);
}

KWS_TEST(BootCheckAcceptsGoodModelAndFlatInput) {
  ExpectBoot(GoodFacts(), "ok", "");
  kws::ModelFacts f = GoodFacts();
  f.input.dims = 2;
  f.input.shape[1] = 20;
  ExpectBoot(f, "ok", "");
  f.input.dims = 4;
  f.input.shape[1] = 4;
  f.input.shape[2] = 5;
  f.input.shape[3] = 1;
  ExpectBoot(f, "ok", "");
}

KWS_TEST(BootCheckNamesEachReason) {
  kws::ModelFacts f = GoodFacts();
  f.schema_version = 2;
  ExpectBoot(f, "model-schema", "2");
  f = GoodFacts();
  static const char* const ops[] = {"CONV_2D", "LSTM"};
  f.ops = ops;
  f.op_count = 2;
  ExpectBoot(f, "op", "LSTM");
  f = GoodFacts();
  f.model_bytes = 5001;
  ExpectBoot(f, "budget", "model:5001>5000");
  f = GoodFacts();
  f.arena_size = 3001;
  ExpectBoot(f, "budget", "arena:3001>3000");
  f = GoodFacts();
  f.allocate_ok = false;
  ExpectBoot(f, "arena", "2000");
  f = GoodFacts();
  f.input.shape[2] = 10;
  ExpectBoot(f, "input-shape", "1x4x10");
  f = GoodFacts();
  f.input.dims = 0;
  ExpectBoot(f, "input-shape", "scalar");
  f = GoodFacts();
  f.input.is_int8 = false;
  f.input.type_name = "float32";
  ExpectBoot(f, "input-type", "float32");
  f = GoodFacts();
  f.output.shape[1] = 12;
  ExpectBoot(f, "output-shape", "1x12");
  f = GoodFacts();
  f.output.is_int8 = false;
  f.output.type_name = "uint8";
  ExpectBoot(f, "output-type", "uint8");
}

KWS_TEST(SupportedOpsComeFromTheDefFile) {
  static const char* const all[] = {
#define KWS_OP(name, method) #name,
#include "supported_ops.def"
#undef KWS_OP
  };
  EXPECT_TRUE(kws::FirstUnsupportedOp(all, sizeof(all) / sizeof(all[0])) == nullptr);
  static const char* const bad[] = {"CONV_2D", "conv_2d"};
  EXPECT_STREQ(kws::FirstUnsupportedOp(bad, 2), "conv_2d");
}

}  // namespace

#include "audio_ring.h"

namespace {

KWS_TEST(AudioRingReturnsNewestSamples) {
  kws::AudioRing<8> ring;
  int16_t out[8];
  uint32_t total = 0;
  const int16_t a[5] = {1, 2, 3, 4, 5};
  ring.Write(a, 5);
  EXPECT_TRUE(!ring.Latest(out, 6, &total));  // not enough yet
  EXPECT_TRUE(ring.Latest(out, 3, &total));
  EXPECT_EQ(out[0], 3);
  EXPECT_EQ(out[2], 5);
  EXPECT_EQ(total, 5u);
  const int16_t b[6] = {6, 7, 8, 9, 10, 11};  // wraps
  ring.Write(b, 6);
  EXPECT_TRUE(ring.Latest(out, 8, &total));
  EXPECT_EQ(out[0], 4);
  EXPECT_EQ(out[7], 11);
  EXPECT_EQ(total, 11u);
  EXPECT_TRUE(!ring.Latest(out, 9, &total));  // more than the capacity
  ring.Reset();
  EXPECT_TRUE(!ring.Latest(out, 1, &total));
}

}  // namespace
