#include "device.h"

#include <algorithm>
#include <cstring>

#include "base64.h"
#include "crc32.h"

namespace kws {
namespace {

constexpr size_t kMaxTokens = 4;
constexpr size_t kCmdEchoMax = 16;  // e-unknown-command echoes at most this much

}  // namespace

Device::Device(Transport& transport, Clock& clock, FrontEnd& front_end, InferenceEngine& engine,
               System& system, const DeviceConfig& config, const ModelSpec& spec,
               const DeviceBuffers& buffers)
    : transport_(transport),
      clock_(clock),
      front_end_(front_end),
      engine_(engine),
      system_(system),
      config_(config),
      spec_(spec),
      buffers_(buffers),
      framer_(*this),
      out_(transport) {}

void Device::Begin(const BootStatus& boot) {
  counters_ = Counters{};
  framer_.Reset();
  pending_ = Pending::kNone;
  db_size_ = db_pos_ = 0;
  db_loading_ = false;
  listening_ = false;
  boot_ms_ = clock_.NowMs();
  if (field_clip_ != nullptr) field_clip_->Reset();
  for (size_t i = 0; i < kMaxLabels; ++i) scores_[i] = static_cast<int8_t>(spec_.output_zero_point);

  BootStatus st = boot;
  // The board's buffers must hold this model's payloads, or nothing below is safe.
  const bool buffers_ok =
      spec_.num_labels > 0 && spec_.num_labels <= kMaxLabels && spec_.labels != nullptr &&
      spec_.feature_bytes() > 0 && buffers_.features != nullptr && buffers_.payload != nullptr &&
      buffers_.features_size >= spec_.feature_bytes() &&
      buffers_.payload_size >= spec_.feature_bytes() &&
      buffers_.payload_size >= 2 * spec_.clip_samples &&
      reinterpret_cast<uintptr_t>(buffers_.payload) % alignof(int16_t) == 0;
  if (buffers_.features != nullptr) std::memset(buffers_.features, 0, buffers_.features_size);
  if (st.ok() && !buffers_ok) {
    st.reason = "arena";
    std::strcpy(st.detail, "buffers");
  }
  if (buffers_ok) recognizer_.Init(spec_.recognizer, spec_.num_labels, spec_.labels);  // cannot fail
  safe_reason_ = st.reason;
  if (st.ok()) {
    out_.Str("m-boot board=").Str(config_.board).Str(" fw=").Str(config_.fw_version);
    out_.Str(" proto=").I32(kProtocolVersion).End();
  } else {
    Err().Str("boot reason=").Str(st.reason).Str(" detail=").Str(st.detail[0] ? st.detail : "-");
    out_.End();
  }
  Ready();
}

void Device::OnByte(uint8_t b) { framer_.OnByte(b, clock_.NowMs()); }

void Device::Poll() {
  framer_.Poll(clock_.NowMs());
  if (listening_ && !framer_.in_payload()) ListenStep();
}

const char* Device::LatencyKind() const {
  if (config_.latency_emulated) return "emulated";
  return config_.latency_measured ? "measured" : "estimated";
}

void Device::Ready() { out_.Str("m-ready").End(); }

LineWriter& Device::Err() {
  ++counters_.errors;
  return out_.Str("e-");
}

void Device::ErrNotReady() {
  Err().Str("not-ready reason=").Str(safe_reason_);
  out_.End();
}

void Device::ErrBadArgs(const char* cmd) {
  // The allowed arguments, as `help` lists them (PROTOCOL.md "Errors").
  Err().Str("bad-args cmd=").Str(cmd).Char(' ');
  ArgsOf(cmd);
  out_.End();
}

void Device::ArgsOf(const char* cmd) {
  const uint32_t features = static_cast<uint32_t>(spec_.feature_bytes());
  const uint32_t audio_max = static_cast<uint32_t>(2 * spec_.clip_samples);
  if (std::strcmp(cmd, "infer") == 0) {
    out_.Str("len=").U32(features).Str(" crc=<crc32>");
  } else if (std::strcmp(cmd, "audio") == 0 || std::strcmp(cmd, "features") == 0) {
    out_.Str("len=2-").U32(audio_max).Str(",even crc=<crc32>");
  } else if (std::strcmp(cmd, "bench") == 0) {
    out_.Str("n=1-").U32(kMaxBenchRuns).Str(" warmup=0-").U32(kMaxBenchWarmup);
  } else if (std::strcmp(cmd, "listen") == 0) {
    out_.Str("state=on|off");
  } else if (std::strcmp(cmd, "clipband") == 0) {
    out_.Str("lo=-128-127 hi=-128-127|off");
  } else {
    out_.Str("args=none");
  }
}

void Device::CmdHelp() {
  static const char* const kCommands[] = {"id",     "labels",   "infer", "audio",
                                          "features", "bench", "stats", "reset",
                                          "listen", "clipband", "clip",  "help"};
  for (const char* cmd : kCommands) {
    out_.Str("m-help ").Str(cmd).Char(' ');
    ArgsOf(cmd);
    out_.End();
  }
  out_.Str("m-help mlperf=name%,profile%,timestamp%,db_load_<N>%,db_<hex>%,infer_<N>_<W>%,results%")
      .End();
}

// ---------------------------------------------------------------- framing events

void Device::OnLineTooLong() {
  Err().Str("line-too-long max=").U32(kMaxLineBytes);
  out_.End();
  Ready();
}

void Device::OnBadChar() {
  Err().Str("bad-char");
  out_.End();
  Ready();
}

void Device::OnLine(const char* line, size_t n, Terminator t) {
  Token tok[kMaxTokens];
  const size_t count = Tokenize(line, n, tok, kMaxTokens);
  if (count == 0) return;  // only spaces: an empty line
  if (t == Terminator::kPercent) {
    MlperfDispatch(tok, count);
  } else {
    Dispatch(tok, count);
  }
}

void Device::OnPayloadTimeout(size_t got, size_t want) {
  pending_ = Pending::kNone;
  ++counters_.timeouts;
  Err().Str("timeout got=").U32(static_cast<uint32_t>(got)).Str(" want=").U32(
      static_cast<uint32_t>(want));
  out_.End();
  Ready();
}

void Device::OnPayload(size_t n) {
  const Pending what = pending_;
  pending_ = Pending::kNone;
  const uint32_t crc = Crc32(buffers_.payload, n);
  if (crc != pending_crc_) {
    ++counters_.crc_errors;
    Err().Str("crc got=").Hex32(crc).Str(" want=").Hex32(pending_crc_);
    out_.End();
    Ready();
    return;
  }
  switch (what) {
    case Pending::kInfer:
      std::memcpy(buffers_.features, buffers_.payload, n);
      FinishInfer("m-infer");
      break;
    case Pending::kAudio:
      FinishAudio(n, true);
      break;
    case Pending::kFeatures:
      FinishAudio(n, false);
      break;
    case Pending::kNone:
      break;
  }
  Ready();
}

// ---------------------------------------------------------------- our commands

void Device::Dispatch(const Token* tok, size_t count) {
  const Token& cmd = tok[0];
  const bool no_args = count == 1;
  if (TokenIs(cmd, "id")) {
    no_args ? CmdId() : ErrBadArgs("id");
  } else if (TokenIs(cmd, "stats")) {
    no_args ? CmdStats() : ErrBadArgs("stats");
  } else if (TokenIs(cmd, "help")) {
    no_args ? CmdHelp() : ErrBadArgs("help");
  } else if (TokenIs(cmd, "reset")) {
    if (no_args) return CmdReset();  // writes its own m-ready before restarting
    ErrBadArgs("reset");
  } else if (TokenIs(cmd, "labels")) {
    if (safe_mode()) {
      ErrNotReady();
    } else {
      no_args ? CmdLabels() : ErrBadArgs("labels");
    }
  } else if (TokenIs(cmd, "infer") || TokenIs(cmd, "audio") || TokenIs(cmd, "features")) {
    if (safe_mode()) {
      ErrNotReady();
    } else {
      StartPayload(tok, count);
      if (pending_ != Pending::kNone) return;  // m-ready after the payload
    }
  } else if (TokenIs(cmd, "bench")) {
    uint32_t n = 0;
    uint32_t w = 0;
    if (safe_mode()) {
      ErrNotReady();
    } else if (count != 3 || !ParseDecimal(tok[1].p, tok[1].n, &n) ||
               !ParseDecimal(tok[2].p, tok[2].n, &w) || n < 1 || n > kMaxBenchRuns ||
               w > kMaxBenchWarmup) {
      ErrBadArgs("bench");
    } else {
      CmdBench(n, w);
    }
  } else if (TokenIs(cmd, "listen")) {
    if (safe_mode()) {
      ErrNotReady();
    } else if (count == 2 && (TokenIs(tok[1], "on") || TokenIs(tok[1], "off"))) {
      CmdListen(TokenIs(tok[1], "on"));
    } else {
      ErrBadArgs("listen");
    }
  } else if (TokenIs(cmd, "clip") || TokenIs(cmd, "clipband")) {
    CmdFieldClip(tok, count);  // field_clip.cc
  } else {
    Err().Str("unknown-command cmd=").Bytes(cmd.p, std::min(cmd.n, kCmdEchoMax));
    out_.End();
  }
  Ready();
}

void Device::StartPayload(const Token* tok, size_t count) {
  const Token& cmd = tok[0];
  const char* name = TokenIs(cmd, "infer") ? "infer" : TokenIs(cmd, "audio") ? "audio" : "features";
  uint32_t len = 0;
  uint32_t crc = 0;
  if (count != 3 || !ParseDecimal(tok[1].p, tok[1].n, &len) ||
      !ParseHex32(tok[2].p, tok[2].n, &crc)) {
    return ErrBadArgs(name);
  }
  Pending what = Pending::kInfer;
  if (name[0] == 'i') {
    if (len != spec_.feature_bytes()) {
      Err().Str("length cmd=infer got=").U32(len).Str(" want=").U32(
          static_cast<uint32_t>(spec_.feature_bytes()));
      out_.End();
      return;
    }
  } else {
    const uint32_t max = static_cast<uint32_t>(2 * spec_.clip_samples);
    if (len < 2 || len > max || len % 2 != 0) {
      Err().Str("length cmd=").Str(name).Str(" got=").U32(len).Str(" want=2-").U32(max);
      out_.End();
      return;
    }
    what = name[0] == 'a' ? Pending::kAudio : Pending::kFeatures;
  }
  // A payload overwrites the buffer MLPerf's db commands fill.
  db_size_ = db_pos_ = 0;
  db_loading_ = false;
  pending_ = what;
  pending_crc_ = crc;
  framer_.ExpectPayload(buffers_.payload, len, clock_.NowMs());
}

int Device::TopLabel() const {
  int best = 0;
  for (size_t i = 1; i < spec_.num_labels; ++i) {
    if (scores_[i] > scores_[best]) best = static_cast<int>(i);
  }
  return best;
}

bool Device::Infer(uint32_t* us) {
  int8_t out[kMaxLabels];
  const uint32_t t0 = clock_.NowUs();
  const bool ok = engine_.Invoke(buffers_.features, spec_.feature_bytes(), out, spec_.num_labels);
  *us = clock_.NowUs() - t0;
  if (!ok) return false;
  std::memcpy(scores_, out, spec_.num_labels);
  ++counters_.inferences;
  return true;
}

void Device::RecordOutcome() {
  const int top = TopLabel();
  const int score = scores_[top];
  ++counters_.hist[static_cast<size_t>(score + 128) / 16];
  const bool keyword = spec_.labels[top][0] != '_';
  if (keyword && score + 128 >= spec_.recognizer.detection_threshold) ++counters_.detections[top];
}

bool Device::FinishInfer(const char* prefix) {
  uint32_t us = 0;
  if (!Infer(&us)) {
    Err().Str("internal cmd=").Str(prefix + 2);  // "m-infer" -> "infer"
    out_.End();
    return false;
  }
  RecordOutcome();
  const int top = TopLabel();
  out_.Str(prefix).Str(" idx=").I32(top).Str(" label=").Str(spec_.labels[top]);
  out_.Str(" score=").I32(scores_[top]).Str(" us=").U32(us).Str(" scores=");
  for (size_t i = 0; i < spec_.num_labels; ++i) {
    if (i > 0) out_.Char(',');
    out_.I32(scores_[i]);
  }
  out_.End();
  return true;
}

bool Device::ComputeFeatures(size_t n) {
  // Little-endian int16 in place (sample i is bytes 2i, 2i+1), then zero-pad to a clip.
  auto* pcm = reinterpret_cast<int16_t*>(buffers_.payload);
  const size_t samples = n / 2;
  for (size_t i = 0; i < samples; ++i) {
    const auto v = static_cast<uint16_t>(buffers_.payload[2 * i] |
                                         (static_cast<uint16_t>(buffers_.payload[2 * i + 1]) << 8));
    int16_t s;
    std::memcpy(&s, &v, sizeof(s));
    pcm[i] = s;
  }
  for (size_t i = samples; i < spec_.clip_samples; ++i) pcm[i] = 0;
  return front_end_.Compute(pcm, spec_.clip_samples, buffers_.features, spec_.feature_bytes());
}

void Device::FinishAudio(size_t n, bool infer) {
  if (!ComputeFeatures(n)) {
    Err().Str("internal cmd=").Str(infer ? "audio" : "features");
    out_.End();
    return;
  }
  if (infer) {
    if (FinishInfer("m-audio")) OfferFieldClip();
    return;
  }
  const auto* f = reinterpret_cast<const uint8_t*>(buffers_.features);
  const size_t len = spec_.feature_bytes();
  out_.Str("m-features n=").U32(static_cast<uint32_t>(len)).Str(" crc=").Hex32(Crc32(f, len));
  out_.Str(" b64=");
  char chunk[64];  // 48 input bytes -> 64 characters
  for (size_t i = 0; i < len; i += 48) {
    const size_t take = std::min<size_t>(48, len - i);
    out_.Bytes(chunk, Base64Encode(f + i, take, chunk, sizeof(chunk)));
  }
  out_.End();
}

void Device::CmdId() {
  out_.Str("m-id board=").Str(config_.board).Str(" fw=").Str(config_.fw_version);
  out_.Str(" proto=").I32(kProtocolVersion).Str(" model_sha256=").Str(engine_.ModelSha256());
  out_.Str(" arena_size=").U32(static_cast<uint32_t>(engine_.ArenaSize()));
  out_.Str(" arena_used=").U32(static_cast<uint32_t>(engine_.ArenaUsed()));
  out_.Str(" input=").U32(static_cast<uint32_t>(spec_.frames)).Char('x').U32(
      static_cast<uint32_t>(spec_.channels));
  out_.Str(" labels=").U32(static_cast<uint32_t>(spec_.num_labels));
  out_.Str(" latency=").Str(LatencyKind()).End();
}

void Device::CmdLabels() {
  out_.Str("m-labels ");
  for (size_t i = 0; i < spec_.num_labels; ++i) {
    if (i > 0) out_.Char(',');
    out_.Str(spec_.labels[i]);
  }
  out_.End();
}

void Device::CmdStats() {
  out_.Str("m-stats uptime_ms=").U32(clock_.NowMs() - boot_ms_);
  out_.Str(" inferences=").U32(counters_.inferences).Str(" errors=").U32(counters_.errors);
  out_.Str(" crc_errors=").U32(counters_.crc_errors).Str(" timeouts=").U32(counters_.timeouts);
  out_.Str(" detections=");
  bool first = true;
  for (size_t i = 0; i < spec_.num_labels && i < kMaxLabels && spec_.labels != nullptr; ++i) {
    if (spec_.labels[i][0] == '_') continue;
    if (!first) out_.Char(',');
    first = false;
    out_.Str(spec_.labels[i]).Char(':').U32(counters_.detections[i]);
  }
  if (first) out_.Char('-');
  out_.Str(" hist=");
  for (size_t i = 0; i < kHistBins; ++i) {
    if (i > 0) out_.Char(',');
    out_.U32(counters_.hist[i]);
  }
  out_.End();
}

void Device::CmdReset() {
  out_.Str("m-reset").End();
  Ready();
  system_.Reset();  // does not return on a board
}

void Device::CmdBench(uint32_t n, uint32_t warmup) {
  uint32_t us = 0;
  for (uint32_t i = 0; i < warmup + n; ++i) {
    if (!Infer(&us)) {
      Err().Str("internal cmd=bench");
      out_.End();
      return;
    }
    if (i >= warmup) latencies_[i - warmup] = us;
  }
  std::sort(latencies_, latencies_ + n);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += latencies_[i];
  // Nearest-rank percentiles: the ceil(p/100 x n)-th smallest.
  const auto rank = [n](uint32_t p) { return (p * n + 99) / 100 - 1; };
  out_.Str("m-bench n=").U32(n).Str(" warmup=").U32(warmup);
  out_.Str(" min_us=").U32(latencies_[0]).Str(" p50_us=").U32(latencies_[rank(50)]);
  out_.Str(" p95_us=").U32(latencies_[rank(95)]).Str(" max_us=").U32(latencies_[n - 1]);
  out_.Str(" mean_us=").U32(static_cast<uint32_t>(sum / n));
  out_.Str(" latency=").Str(LatencyKind()).End();
}

void Device::CmdListen(bool on) {
  if (on && (audio_source_ == nullptr || !audio_source_->Start())) {
    Err().Str("not-ready reason=no-audio-source");
    out_.End();
    return;
  }
  listening_ = on;
  last_listen_ms_ = clock_.NowMs();
  if (on) {
    recognizer_.Init(spec_.recognizer, spec_.num_labels, spec_.labels);
  }
  out_.Str("m-listen state=").Str(on ? "on" : "off").End();
}

void Device::ListenStep() {
  const uint32_t now = clock_.NowMs();
  if (now - last_listen_ms_ < kListenPeriodMs) return;
  last_listen_ms_ = now;
  auto* pcm = reinterpret_cast<int16_t*>(buffers_.payload);
  uint32_t end_ms = 0;
  if (!audio_source_->Latest(pcm, spec_.clip_samples, &end_ms)) return;  // still filling
  db_size_ = db_pos_ = 0;  // the clip overwrote MLPerf's db buffer
  db_loading_ = false;
  uint32_t us = 0;
  if (!front_end_.Compute(pcm, spec_.clip_samples, buffers_.features, spec_.feature_bytes()) ||
      !Infer(&us)) {
    listening_ = false;  // one unsolicited error, not one every period
    Err().Str("internal cmd=listen");
    out_.End();
    return;
  }
  RecordOutcome();
  OfferFieldClip();
  Recognition r;
  if (recognizer_.Process(scores_, end_ms, &r) == RecognizerStatus::kOk && r.is_new) {
    out_.Str("m-detect label=").Str(spec_.labels[r.top_label]).Str(" score=").I32(r.score);
    out_.Str(" time_ms=").U32(end_ms).End();
  }
}

}  // namespace kws
