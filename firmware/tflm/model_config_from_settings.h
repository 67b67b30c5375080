// The ModelConfig of the generated model_settings.h (ml.export). Include it from exactly one
// translation unit of a board app with $(GENERATED_DIR) on the include path.
#ifndef KWS_TFLM_MODEL_CONFIG_FROM_SETTINGS_H_
#define KWS_TFLM_MODEL_CONFIG_FROM_SETTINGS_H_

#include "model_config.h"
#include "model_settings.h"
#include "model_spec_from_settings.h"

namespace kws {

inline ModelConfig ModelConfigFromSettings() {
  namespace st = settings;
  ModelConfig c;
  c.spec = ModelSpecFromSettings();
  FrontendParams& f = c.frontend;
  f.sample_rate = st::kSampleRate;
  f.window_size_ms = st::kWindowSizeMs;
  f.window_stride_ms = st::kWindowStrideMs;
  f.num_channels = st::kNumChannels;
  f.lower_band_limit = st::kLowerBandLimit;
  f.upper_band_limit = st::kUpperBandLimit;
  f.smoothing_bits = st::kSmoothingBits;
  f.even_smoothing = st::kEvenSmoothing;
  f.odd_smoothing = st::kOddSmoothing;
  f.min_signal_remaining = st::kMinSignalRemaining;
  f.enable_pcan = st::kEnablePcan;
  f.pcan_strength = st::kPcanStrength;
  f.pcan_offset = st::kPcanOffset;
  f.gain_bits = st::kGainBits;
  f.enable_log = st::kEnableLog;
  f.scale_shift = st::kScaleShift;
  c.sha256 = st::kModelSha256;
  c.arena_size = static_cast<size_t>(st::kTensorArenaSize);
  return c;
}

}  // namespace kws

#endif  // KWS_TFLM_MODEL_CONFIG_FROM_SETTINGS_H_
