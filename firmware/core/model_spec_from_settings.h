// Builds the ModelSpec from the generated model_settings.h (docs/contracts.md). Include it
// from exactly one translation unit of a board app (or the generated-headers test) with
// $(GENERATED_DIR) on the include path.
#ifndef KWS_CORE_MODEL_SPEC_FROM_SETTINGS_H_
#define KWS_CORE_MODEL_SPEC_FROM_SETTINGS_H_

#include "model_settings.h"
#include "model_spec.h"

namespace kws {

static_assert(settings::kNumLabels > 0 && settings::kNumLabels <= kMaxLabels,
              "model_settings.h: kNumLabels out of the core's range");
static_assert(settings::kFeatureElementCount ==
                  settings::kFeatureSliceCount * settings::kFeatureSliceSize,
              "model_settings.h: kFeatureElementCount != slices x slice size");

inline ModelSpec ModelSpecFromSettings() {
  ModelSpec s{};
  s.frames = settings::kFeatureSliceCount;
  s.channels = settings::kFeatureSliceSize;
  s.num_labels = settings::kNumLabels;
  s.labels = settings::kLabels;
  s.output_scale = static_cast<float>(settings::kOutputScale);
  s.output_zero_point = settings::kOutputZeroPoint;
  s.clip_samples = settings::kClipSamples;
  s.recognizer.average_window_ms = settings::kAverageWindowMs;
  s.recognizer.detection_threshold = settings::kDetectionThreshold;
  s.recognizer.suppression_ms = settings::kSuppressionMs;
  s.recognizer.minimum_count = settings::kMinimumCount;
  return s;
}

// Payload buffer size for this model: the larger of a feature vector and a clip of audio.
constexpr size_t kPayloadBytes =
    settings::kFeatureElementCount > 2 * settings::kClipSamples
        ? static_cast<size_t>(settings::kFeatureElementCount)
        : static_cast<size_t>(2 * settings::kClipSamples);

}  // namespace kws

#endif  // KWS_CORE_MODEL_SPEC_FROM_SETTINGS_H_
