// Streaming command recognizer: micro_speech's RecognizeCommands as docs/contracts.md
// "Recognizer" states it (ml/recognizer.py is the Python twin; both must agree).
#ifndef KWS_CORE_RECOGNIZER_H_
#define KWS_CORE_RECOGNIZER_H_

#include <cstddef>
#include <cstdint>

#include "limits.h"
#include "ring_buffer.h"

namespace kws {

struct RecognizerConfig {
  uint32_t average_window_ms;
  int32_t detection_threshold;  // on averaged scores shifted to 0..255
  uint32_t suppression_ms;
  uint32_t minimum_count;
};

struct Recognition {
  bool decided = false;  // false: fewer than minimum_count results in the window
  int top_label = -1;    // label index of the highest average
  int32_t score = 0;     // its average, 0..255
  bool is_new = false;   // a detection: a keyword over the threshold, not suppressed
};

enum class RecognizerStatus { kOk, kOlderResult, kBadConfig };

class Recognizer {
 public:
  // `labels` gives num_labels names; names starting with '_' (_silence_, _unknown_) are
  // never detected. Returns kBadConfig when num_labels is 0 or above kMaxLabels.
  RecognizerStatus Init(const RecognizerConfig& config, size_t num_labels,
                        const char* const* labels);
  // One inference result (int8 scores in label order) at `time_ms`. Times must not go
  // backwards: an older result is kOlderResult and changes nothing.
  RecognizerStatus Process(const int8_t* scores, uint32_t time_ms, Recognition* out);

 private:
  struct Result {
    uint32_t time_ms;
    int8_t scores[kMaxLabels];
  };
  RecognizerConfig config_{};
  size_t num_labels_ = 0;
  const char* const* labels_ = nullptr;
  RingBuffer<Result, kMaxRecognizerResults> results_;
  int previous_top_label_ = -1;  // label of the last detection
  bool detected_before_ = false;
  uint32_t previous_top_time_ms_ = 0;
};

}  // namespace kws

#endif  // KWS_CORE_RECOGNIZER_H_
