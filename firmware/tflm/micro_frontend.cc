#include "micro_frontend.h"

#include <cmath>

#include "tensorflow/lite/experimental/microfrontend/lib/frontend_util.h"

namespace kws {
namespace {

// TensorFlow's audio_microfrontend op (the pipeline's front-end: training and golden features)
// computes the Hann window in double precision (cos, floor); TFLM's copy of the library in
// single precision (cosf, floorf). For a 30 ms window at 16 kHz one of the 480 coefficients
// differs by one, and a few features with it. Recomputing the table as TensorFlow does (setup
// only) makes the firmware's features bit-exact with the op's (firmware/README.md,
// "Front-end parity"). The expressions keep TensorFlow's float/double steps.
void UseTensorFlowWindow(WindowState* w) {
  const double kPi = 3.14159265358979323846;
  const float arg = static_cast<float>(kPi * 2.0 / static_cast<float>(w->size));
  for (size_t i = 0; i < w->size; ++i) {
    const float value =
        static_cast<float>(0.5 - (0.5 * std::cos(static_cast<double>(arg) * (i + 0.5))));
    w->coefficients[i] = static_cast<int16_t>(
        std::floor(static_cast<double>(value * (1 << kFrontendWindowBits)) + 0.5));
  }
}

}  // namespace

MicroFrontend::~MicroFrontend() { Release(); }

void MicroFrontend::Release() {
  if (populated_) FrontendFreeStateContents(&state_);  // free(NULL) for parts never made
  state_ = FrontendState{};
  populated_ = false;
  ready_ = false;
}

bool MicroFrontend::Init(const FrontendParams& p, size_t frames) {
  Release();
  if (frames == 0 || p.num_channels <= 0 || p.sample_rate <= 0) return false;
  FrontendConfig config;
  FrontendFillConfigWithDefaults(&config);
  config.window.size_ms = static_cast<size_t>(p.window_size_ms);
  config.window.step_size_ms = static_cast<size_t>(p.window_stride_ms);
  config.filterbank.num_channels = p.num_channels;
  config.filterbank.lower_band_limit = p.lower_band_limit;
  config.filterbank.upper_band_limit = p.upper_band_limit;
  config.noise_reduction.smoothing_bits = p.smoothing_bits;
  config.noise_reduction.even_smoothing = p.even_smoothing;
  config.noise_reduction.odd_smoothing = p.odd_smoothing;
  config.noise_reduction.min_signal_remaining = p.min_signal_remaining;
  config.pcan_gain_control.enable_pcan = p.enable_pcan ? 1 : 0;
  config.pcan_gain_control.strength = p.pcan_strength;
  config.pcan_gain_control.offset = p.pcan_offset;
  config.pcan_gain_control.gain_bits = p.gain_bits;
  config.log_scale.enable_log = p.enable_log ? 1 : 0;
  config.log_scale.scale_shift = p.scale_shift;
  frames_ = frames;
  channels_ = static_cast<size_t>(p.num_channels);
  populated_ = true;
  ready_ = FrontendPopulateState(&config, &state_, p.sample_rate) != 0;
  if (ready_) UseTensorFlowWindow(&state_.window);
  if (!ready_) Release();
  return ready_;
}

bool MicroFrontend::Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) {
  if (!ready_ || out_len != frames_ * channels_) return false;
  FrontendReset(&state_);
  size_t frames = 0;
  while (samples > 0 && frames < frames_) {
    size_t read = 0;
    const FrontendOutput o = FrontendProcessSamples(&state_, pcm, samples, &read);
    if (read == 0) break;
    pcm += read;
    samples -= read;
    if (o.size == 0) continue;  // the window is not full yet
    if (o.size != channels_) return false;
    for (size_t i = 0; i < o.size; ++i) {
      // micro_speech's mapping (docs/contracts.md): clamp(((v * 256) + 333) / 666 - 128).
      int32_t v = ((static_cast<int32_t>(o.values[i]) * 256) + 333) / 666 - 128;
      v = v < -128 ? -128 : (v > 127 ? 127 : v);
      out[frames * o.size + i] = static_cast<int8_t>(v);
    }
    ++frames;
  }
  return frames == frames_;
}

}  // namespace kws
