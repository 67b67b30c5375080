#include "recognizer.h"

#include <cstring>

namespace kws {

RecognizerStatus Recognizer::Init(const RecognizerConfig& config, size_t num_labels,
                                  const char* const* labels) {
  if (num_labels == 0 || num_labels > kMaxLabels || labels == nullptr) {
    return RecognizerStatus::kBadConfig;
  }
  config_ = config;
  num_labels_ = num_labels;
  labels_ = labels;
  results_.clear();
  previous_top_label_ = -1;
  detected_before_ = false;
  previous_top_time_ms_ = 0;
  return RecognizerStatus::kOk;
}

RecognizerStatus Recognizer::Process(const int8_t* scores, uint32_t time_ms, Recognition* out) {
  *out = Recognition{};
  if (num_labels_ == 0) return RecognizerStatus::kBadConfig;
  // Signed difference: clock wrap-around between two results is not "older".
  if (!results_.empty() && static_cast<int32_t>(time_ms - results_.back().time_ms) < 0) {
    return RecognizerStatus::kOlderResult;
  }
  Result r{};
  r.time_ms = time_ms;
  std::memcpy(r.scores, scores, num_labels_);
  results_.Push(r);  // when full the oldest goes: the window is bounded by capacity too
  while (!results_.empty() && time_ms - results_.front().time_ms > config_.average_window_ms) {
    results_.PopFront();
  }
  const size_t count = results_.size();
  if (count < config_.minimum_count) return RecognizerStatus::kOk;

  int32_t best = -1;
  int best_label = 0;
  for (size_t label = 0; label < num_labels_; ++label) {
    int32_t sum = 0;
    for (size_t i = 0; i < count; ++i) sum += results_[i].scores[label] + 128;
    const int32_t average = sum / static_cast<int32_t>(count);
    if (average > best) {  // first maximum wins, like argmax
      best = average;
      best_label = static_cast<int>(label);
    }
  }
  out->decided = true;
  out->top_label = best_label;
  out->score = best;
  const bool keyword = labels_[best_label][0] != '_';
  const bool suppressed = detected_before_ && best_label == previous_top_label_ &&
                          time_ms - previous_top_time_ms_ <= config_.suppression_ms;
  if (keyword && best >= config_.detection_threshold && !suppressed) {
    out->is_new = true;
    previous_top_label_ = best_label;
    previous_top_time_ms_ = time_ms;
    detected_before_ = true;
  }
  return RecognizerStatus::kOk;
}

}  // namespace kws
