// The device side of PROTOCOL.md: framing, our command set, the MLPerf Tiny command set,
// telemetry and live listening, over the seams in seams.h. One static instance per board;
// no heap, no exceptions. Drive it from one loop:
//   device.Begin(boot_status);                   // banner or e-boot, then m-ready
//   for (;;) { while (uart has byte) device.OnByte(b); device.Poll(); }
#ifndef KWS_CORE_DEVICE_H_
#define KWS_CORE_DEVICE_H_

#include <cstddef>
#include <cstdint>

#include "boot_check.h"
#include "field_clip.h"
#include "framer.h"
#include "limits.h"
#include "model_spec.h"
#include "recognizer.h"
#include "seams.h"
#include "text.h"

namespace kws {

constexpr int kProtocolVersion = 1;
constexpr uint32_t kListenPeriodMs = 100;  // live inference period

struct Counters {
  uint32_t inferences = 0;
  uint32_t errors = 0;  // every e- line, e-boot included
  uint32_t crc_errors = 0;
  uint32_t timeouts = 0;
  uint32_t detections[kMaxLabels] = {0};
  uint32_t hist[kHistBins] = {0};
};

class Device : private FramerHandler {
 public:
  Device(Transport& transport, Clock& clock, FrontEnd& front_end, InferenceEngine& engine,
         System& system, const DeviceConfig& config, const ModelSpec& spec,
         const DeviceBuffers& buffers);

  // Optional live microphone (boards with one); before Begin.
  void AttachAudioSource(AudioSource* source) { audio_source_ = source; }
  // Optional field-clip buffer (field_clip.h; `clip`/`clipband` need it); before Begin.
  void AttachFieldClip(FieldClip* clip) { field_clip_ = clip; }

  // Prints the boot banner (boot.ok()) or the e-boot line (safe mode), then m-ready.
  // Also a buffer/spec mismatch found here puts the device in safe mode (reason=arena).
  void Begin(const BootStatus& boot);

  void OnByte(uint8_t b);
  // Payload timeout and, when listening, one live inference every kListenPeriodMs.
  void Poll();

  bool safe_mode() const { return safe_reason_ != nullptr; }
  const Counters& counters() const { return counters_; }

 private:
  // FramerHandler
  void OnLine(const char* line, size_t n, Terminator t) override;
  void OnLineTooLong() override;
  void OnBadChar() override;
  void OnPayload(size_t n) override;
  void OnPayloadTimeout(size_t got, size_t want) override;

  // Our commands (PROTOCOL.md "Commands (ours)").
  void Dispatch(const Token* tok, size_t count);
  void CmdId();
  void CmdHelp();
  void ArgsOf(const char* cmd);  // the allowed arguments of `cmd` (help, e-bad-args)
  void CmdLabels();
  void CmdStats();
  void CmdReset();
  void CmdBench(uint32_t n, uint32_t warmup);
  void CmdListen(bool on);
  void StartPayload(const Token* tok, size_t count);
  bool FinishInfer(const char* prefix);
  void FinishAudio(size_t n, bool infer);
  bool ComputeFeatures(size_t n);

  // MLPerf Tiny commands (mlperf.cc).
  void MlperfDispatch(const Token* tok, size_t count);
  void MlperfDb(const Token* tok, size_t count);
  void MlperfInfer(const Token* tok, size_t count);
  void MlperfResults();
  void MlperfError(const char* text);

  // Field clips (field_clip.cc).
  void CmdFieldClip(const Token* tok, size_t count);
  void OfferFieldClip();  // after an audio inference: the clip is in buffers_.payload

  // Runs the engine on features_; on success updates scores_, counters and *us.
  bool Infer(uint32_t* us);
  void RecordOutcome();  // hist + detections for scores_
  int TopLabel() const;
  void Ready();
  const char* LatencyKind() const;  // measured | estimated | emulated
  LineWriter& Err();  // starts an e- line and counts it
  void ErrNotReady();
  void ErrBadArgs(const char* cmd);
  void ListenStep();

  Transport& transport_;
  Clock& clock_;
  FrontEnd& front_end_;
  InferenceEngine& engine_;
  System& system_;
  AudioSource* audio_source_ = nullptr;
  FieldClip* field_clip_ = nullptr;
  DeviceConfig config_;
  ModelSpec spec_;
  DeviceBuffers buffers_;
  Framer framer_;
  LineWriter out_;
  Recognizer recognizer_;
  Counters counters_;
  const char* safe_reason_ = nullptr;
  uint32_t boot_ms_ = 0;

  enum class Pending { kNone, kInfer, kAudio, kFeatures };
  Pending pending_ = Pending::kNone;
  uint32_t pending_crc_ = 0;

  int8_t scores_[kMaxLabels] = {0};
  uint32_t latencies_[kMaxBenchRuns] = {0};

  // MLPerf db buffer (stored in buffers_.payload).
  size_t db_size_ = 0;
  size_t db_pos_ = 0;
  bool db_loading_ = false;

  bool listening_ = false;
  uint32_t last_listen_ms_ = 0;
};

}  // namespace kws

#endif  // KWS_CORE_DEVICE_H_
