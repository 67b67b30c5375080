// Everything the TFLM glue needs to know about a model, at run time: what the core needs
// (ModelSpec), the front-end's parameters, the model's sha256 and its tensor arena size.
// The board apps fill it from the generated model_settings.h (model_config_from_settings.h);
// the host board reads it from a settings file at start (firmware/host/settings_file.h), so
// any int8 KWS model the op set supports runs without a code change.
#ifndef KWS_TFLM_MODEL_CONFIG_H_
#define KWS_TFLM_MODEL_CONFIG_H_

#include <cstddef>
#include <cstdint>

#include "model_spec.h"

namespace kws {

// ml/frontend.py's parameters (params.yaml `features`), as TFLM's FrontendConfig takes them.
struct FrontendParams {
  int sample_rate = 16000;
  int window_size_ms = 30;
  int window_stride_ms = 20;
  int num_channels = 40;
  float lower_band_limit = 125.0f;
  float upper_band_limit = 7500.0f;
  int smoothing_bits = 10;
  float even_smoothing = 0.025f;
  float odd_smoothing = 0.06f;
  float min_signal_remaining = 0.05f;
  bool enable_pcan = true;
  float pcan_strength = 0.95f;
  float pcan_offset = 80.0f;
  int gain_bits = 21;
  bool enable_log = true;
  int scale_shift = 6;
};

struct ModelConfig {
  ModelSpec spec{};
  FrontendParams frontend{};
  const char* sha256 = "";  // 64 lowercase hex characters of the model bytes
  size_t arena_size = 0;    // kTensorArenaSize: bytes the board reserves for the arena
};

}  // namespace kws

#endif  // KWS_TFLM_MODEL_CONFIG_H_
