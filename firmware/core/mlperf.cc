// The MLPerf Tiny (EEMBC) command set, exactly as the MLCommons Tiny runner parses it and as
// the reference firmware (benchmark/reference_submissions/*/api/internally_implemented.cpp)
// prints it: see PROTOCOL.md "MLPerf Tiny command set".
#include <algorithm>
#include <cstring>

#include "device.h"

namespace kws {
namespace {

constexpr const char* kMlperfFwVersion = "ULPMark for tinyML Firmware V0.0.1";  // EE_FW_VERSION
constexpr const char* kMlperfModel = "kws01";  // EE_MODEL_VERSION_KWS01
constexpr size_t kCmdEchoMax = 16;

// An unsigned decimal count of any length (leading zeros allowed); a value of more than
// 9 significant digits saturates, so it is out of range.
bool ParseCount(const Token& t, uint32_t* out) {
  if (t.n == 0) return false;
  for (size_t i = 0; i < t.n; ++i) {
    if (t.p[i] < '0' || t.p[i] > '9') return false;
  }
  size_t skip = 0;
  while (skip + 1 < t.n && t.p[skip] == '0') ++skip;
  if (!ParseDecimal(t.p + skip, t.n - skip, out)) *out = 0xFFFFFFFFu;
  return true;
}

}  // namespace

void Device::MlperfError(const char* text) {
  Err().Str("[").Str(text).Str("]");
  out_.End();
}

void Device::MlperfDispatch(const Token* tok, size_t count) {
  const Token& cmd = tok[0];
  const bool model_cmd = TokenIs(cmd, "db") || TokenIs(cmd, "infer") || TokenIs(cmd, "results");
  if (TokenIs(cmd, "name") || TokenIs(cmd, "profile") || TokenIs(cmd, "timestamp")) {
    if (count != 1) {
      MlperfError("Too many arguments");
    } else if (TokenIs(cmd, "name")) {
      out_.Str("m-name-dut-[kws-").Str(config_.board).Str("]").End();
    } else if (TokenIs(cmd, "profile")) {
      out_.Str("m-profile-[").Str(kMlperfFwVersion).Str("]").End();
      out_.Str("m-model-[").Str(kMlperfModel).Str("]").End();
    } else {
      out_.Str("m-lap-us-").U32(clock_.NowUs()).End();
    }
  } else if (model_cmd && safe_mode()) {
    ErrNotReady();
  } else if (TokenIs(cmd, "db")) {
    MlperfDb(tok, count);
  } else if (TokenIs(cmd, "infer")) {
    MlperfInfer(tok, count);
  } else if (TokenIs(cmd, "results")) {
    count == 1 ? MlperfResults() : MlperfError("Too many arguments");
  } else {
    Err().Str("[Unknown command: ").Bytes(cmd.p, std::min(cmd.n, kCmdEchoMax)).Str("]");
    out_.End();
  }
  Ready();
}

void Device::MlperfDb(const Token* tok, size_t count) {
  if (count == 1) return MlperfError("Command 'db' requires a subcommand");
  if (TokenIs(tok[1], "load")) {
    if (count == 2) return MlperfError("Command 'db load' requires the # of bytes");
    if (count > 3) return MlperfError("Too many arguments");
    uint32_t n = 0;
    if (!ParseDecimal(tok[2].p, tok[2].n, &n) || n == 0) {
      return MlperfError("Command 'db load' must be >0 bytes");
    }
    const size_t max = spec_.feature_bytes();
    if (n > max) {
      Err().Str("[Supplied buffer size ").U32(n).Str(" exceeds maximum of ").U32(
          static_cast<uint32_t>(max));
      out_.Str("]").End();
      return;
    }
    db_size_ = n;
    db_pos_ = 0;
    db_loading_ = true;
    out_.Str("m-[Expecting ").U32(n).Str(" bytes]").End();
    return;
  }
  if (count > 2) return MlperfError("Too many arguments");
  if (!db_loading_) return MlperfError("No 'db load' in progress");
  const Token& hex = tok[1];
  if (hex.n % 2 != 0) return MlperfError("Insufficent number of hex digits");
  for (size_t i = 0; i < hex.n; i += 2) {
    const int hi = HexDigit(hex.p[i]);
    const int lo = HexDigit(hex.p[i + 1]);
    if (hi < 0 || lo < 0) {
      Err().Str("[Invalid hex digit '").Bytes(hex.p + i, 2);
      out_.Str("']").End();
      return;
    }
    buffers_.payload[db_pos_++] = static_cast<uint8_t>((hi << 4) | lo);
    if (db_pos_ == db_size_) {
      db_loading_ = false;
      out_.Str("m-load-done").End();
      return;  // digits after the N-th byte are ignored, as in the reference
    }
  }
}

void Device::MlperfInfer(const Token* tok, size_t count) {
  uint32_t n = 1;
  uint32_t w = 10;  // the reference's defaults
  if (count > 3) return MlperfError("Too many arguments");
  if (count >= 2 && (!ParseCount(tok[1], &n) || n == 0)) {
    return MlperfError("Inference iterations must be >0");
  }
  if (count == 3 && !ParseCount(tok[2], &w)) {
    return MlperfError("Inference warmup must be >=0");
  }
  if (n > kMaxMlperfRuns || w > kMaxMlperfWarmup) {
    return MlperfError("Inference iterations out of range");
  }
  const size_t want = spec_.feature_bytes();
  if (db_loading_ || db_size_ != want || db_pos_ != want) {
    Err().Str("[Input db has ").U32(static_cast<uint32_t>(db_pos_));
    out_.Str(" elements, expected ").U32(static_cast<uint32_t>(want)).Str("]").End();
    return;
  }
  std::memcpy(buffers_.features, buffers_.payload, want);
  uint32_t us = 0;
  out_.Str("m-warmup-start-").U32(w).End();
  for (uint32_t i = 0; i < w; ++i) {
    if (!Infer(&us)) {
      Err().Str("internal cmd=infer");
      out_.End();
      return;
    }
  }
  out_.Str("m-warmup-done").End();
  out_.Str("m-infer-start-").U32(n).End();
  // Both laps are printed after the loop so that writing them is not timed (the runner
  // reads the whole response first; only the order of the two lines matters to it).
  const uint32_t t0 = clock_.NowUs();
  bool ok = true;
  for (uint32_t i = 0; i < n && ok; ++i) ok = Infer(&us);
  const uint32_t t1 = clock_.NowUs();
  out_.Str("m-lap-us-").U32(t0).End();
  out_.Str("m-lap-us-").U32(t1).End();
  if (!ok) {
    Err().Str("internal cmd=infer");
    out_.End();
    return;
  }
  out_.Str("m-infer-done").End();
  MlperfResults();
}

void Device::MlperfResults() {
  out_.Str("m-results-[");
  for (size_t i = 0; i < spec_.num_labels; ++i) {
    if (i > 0) out_.Char(',');
    const double v = (static_cast<double>(scores_[i]) - spec_.output_zero_point) *
                     static_cast<double>(spec_.output_scale);
    out_.Fixed3(v);
  }
  out_.Str("]").End();
}

}  // namespace kws
