// InferenceEngine over TensorFlow Lite Micro, shared by every board (TFLM headers only: no
// Arduino, IDF or OS). The op resolver registers exactly the ops of
// firmware/core/supported_ops.def. Setup reads the model's op list and schema version from
// the flatbuffer, builds the interpreter in static storage (no heap) and returns the facts
// kws::CheckModel judges; Invoke copies features in and scores out.
#ifndef KWS_TFLM_ENGINE_H_
#define KWS_TFLM_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <new>

#include "boot_check.h"
#include "seams.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

namespace kws {

constexpr unsigned int kSupportedOpCount = 0
#define KWS_OP(name, method) +1
#include "supported_ops.def"
#undef KWS_OP
    ;
constexpr size_t kMaxModelOps = 32;  // distinct operator codes a model may list

class TflmEngine final : public InferenceEngine {
 public:
  // `sha256`: the model's sha256 from its settings (64 lowercase hex characters).
  ModelFacts Setup(const unsigned char* model_data, size_t model_len, uint8_t* arena,
                   size_t arena_size, const char* sha256);

  bool Invoke(const int8_t* in, size_t in_len, int8_t* out, size_t out_len) override;
  size_t ArenaSize() const override { return arena_size_; }
  size_t ArenaUsed() const override;
  const char* ModelSha256() const override { return sha256_; }

 private:
  tflite::MicroMutableOpResolver<kSupportedOpCount> resolver_;
  bool registered_ = false;
  alignas(tflite::MicroInterpreter) unsigned char storage_[sizeof(tflite::MicroInterpreter)];
  tflite::MicroInterpreter* interpreter_ = nullptr;
  bool ready_ = false;
  size_t arena_size_ = 0;
  const char* sha256_ = "";
  const char* ops_[kMaxModelOps] = {nullptr};
};

}  // namespace kws

#endif  // KWS_TFLM_ENGINE_H_
