#include "micro_frontend.h"

#include "model_settings.h"
#include "tensorflow/lite/experimental/microfrontend/lib/frontend_util.h"

namespace kws {

bool MicroFrontend::Init() {
  namespace st = settings;
  FrontendConfig config;
  FrontendFillConfigWithDefaults(&config);
  config.window.size_ms = st::kWindowSizeMs;
  config.window.step_size_ms = st::kWindowStrideMs;
  config.filterbank.num_channels = st::kNumChannels;
  config.filterbank.lower_band_limit = st::kLowerBandLimit;
  config.filterbank.upper_band_limit = st::kUpperBandLimit;
  config.noise_reduction.smoothing_bits = st::kSmoothingBits;
  config.noise_reduction.even_smoothing = st::kEvenSmoothing;
  config.noise_reduction.odd_smoothing = st::kOddSmoothing;
  config.noise_reduction.min_signal_remaining = st::kMinSignalRemaining;
  config.pcan_gain_control.enable_pcan = st::kEnablePcan ? 1 : 0;
  config.pcan_gain_control.strength = st::kPcanStrength;
  config.pcan_gain_control.offset = st::kPcanOffset;
  config.pcan_gain_control.gain_bits = st::kGainBits;
  config.log_scale.enable_log = st::kEnableLog ? 1 : 0;
  config.log_scale.scale_shift = st::kScaleShift;
  ready_ = FrontendPopulateState(&config, &state_, st::kSampleRate) != 0;
  return ready_;
}

bool MicroFrontend::Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) {
  namespace st = settings;
  if (!ready_ || out_len != static_cast<size_t>(st::kFeatureElementCount)) return false;
  FrontendReset(&state_);
  size_t frames = 0;
  while (samples > 0 && frames < static_cast<size_t>(st::kFeatureSliceCount)) {
    size_t read = 0;
    const FrontendOutput o = FrontendProcessSamples(&state_, pcm, samples, &read);
    if (read == 0) break;
    pcm += read;
    samples -= read;
    if (o.size == 0) continue;  // the window is not full yet
    if (o.size != static_cast<size_t>(st::kFeatureSliceSize)) return false;
    for (size_t i = 0; i < o.size; ++i) {
      // micro_speech's mapping (docs/contracts.md): clamp(((v * 256) + 333) / 666 - 128).
      int32_t v = ((static_cast<int32_t>(o.values[i]) * 256) + 333) / 666 - 128;
      v = v < -128 ? -128 : (v > 127 ? 127 : v);
      out[frames * o.size + i] = static_cast<int8_t>(v);
    }
    ++frames;
  }
  return frames == static_cast<size_t>(st::kFeatureSliceCount);
}

}  // namespace kws
