// What the core needs to know about the model, filled from the generated model_settings.h
// by model_spec_from_settings.h (boards) or by hand (core unit tests, without a model).
#ifndef KWS_CORE_MODEL_SPEC_H_
#define KWS_CORE_MODEL_SPEC_H_

#include <cstddef>
#include <cstdint>

#include "recognizer.h"

namespace kws {

struct ModelSpec {
  size_t frames;    // kFeatureSliceCount
  size_t channels;  // kFeatureSliceSize
  size_t num_labels;
  const char* const* labels;  // model output order
  float output_scale;
  int32_t output_zero_point;
  size_t clip_samples;  // kClipSamples
  RecognizerConfig recognizer;
  size_t feature_bytes() const { return frames * channels; }
};

// Static memory a board hands to the Device (sized from model_settings.h).
struct DeviceBuffers {
  // Binary payloads land here: >= max(frames x channels, 2 x clip_samples) bytes,
  // 2-byte aligned (audio is converted to int16 in place).
  uint8_t* payload;
  size_t payload_size;
  int8_t* features;  // frames x channels: the last features (infer payload / front-end)
  size_t features_size;
};

struct DeviceConfig {
  const char* board;       // hil/boards.yaml key, e.g. "esp32"
  const char* fw_version;  // e.g. "1.0.0+<git sha>"
  bool latency_measured;   // true on boards (cycle counter); "estimated" otherwise
  // The emulated Cortex-M4 (QEMU -icount): `us` counts emulated instructions at the board's
  // clock, reported as latency=emulated (never a board time). Wins over latency_measured.
  bool latency_emulated = false;
};

}  // namespace kws

#endif  // KWS_CORE_MODEL_SPEC_H_
