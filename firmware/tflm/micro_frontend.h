// FrontEnd over TFLM's microfrontend C library (the library TensorFlow's
// audio_microfrontend op wraps, so ml/frontend.py computes the same features), configured
// from the model's FrontendParams, with micro_speech's int8 mapping. Shared by every board.
#ifndef KWS_TFLM_MICRO_FRONTEND_H_
#define KWS_TFLM_MICRO_FRONTEND_H_

#include <cstddef>
#include <cstdint>

#include "model_config.h"
#include "seams.h"
#include "tensorflow/lite/experimental/microfrontend/lib/frontend.h"

namespace kws {

class MicroFrontend final : public FrontEnd {
 public:
  MicroFrontend() = default;
  MicroFrontend(const MicroFrontend&) = delete;
  MicroFrontend& operator=(const MicroFrontend&) = delete;
  ~MicroFrontend();
  // Allocates the front-end's tables (FrontendPopulateState uses malloc: setup only).
  // `frames` x params.num_channels is the feature window Compute fills.
  bool Init(const FrontendParams& params, size_t frames);
  // One clip from a fresh state (FrontendReset), as the Python op computes a clip.
  bool Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) override;

 private:
  void Release();
  FrontendState state_{};
  bool populated_ = false;
  size_t frames_ = 0;
  size_t channels_ = 0;
  bool ready_ = false;
};

}  // namespace kws

#endif  // KWS_TFLM_MICRO_FRONTEND_H_
