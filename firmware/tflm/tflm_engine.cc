#include "tflm_engine.h"

#include <cstring>

#include "flatbuffers/flatbuffers.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tensorflow/lite/schema/schema_utils.h"

namespace kws {
namespace {

TensorFacts Facts(const TfLiteTensor* t) {
  TensorFacts f;
  if (t == nullptr || t->dims == nullptr) return f;
  f.dims = t->dims->size;
  for (int i = 0; i < f.dims && i < 4; ++i) f.shape[i] = t->dims->data[i];
  f.is_int8 = t->type == kTfLiteInt8;
  f.type_name = TfLiteTypeGetName(t->type);
  return f;
}

}  // namespace

ModelFacts TflmEngine::Setup(const unsigned char* model_data, size_t model_len, uint8_t* arena,
                             size_t arena_size, const char* sha256) {
  ModelFacts facts;
  facts.model_bytes = model_len;
  facts.arena_size = arena_size;
  arena_size_ = arena_size;
  sha256_ = sha256;
  if (ready_) interpreter_->~MicroInterpreter();
  ready_ = false;
  interpreter_ = nullptr;

  // Not a TFLite flatbuffer at all: reported as schema version 0.
  flatbuffers::Verifier verifier(model_data, model_len);
  if (model_len < 8 || !tflite::VerifyModelBuffer(verifier)) return facts;
  const tflite::Model* model = tflite::GetModel(model_data);
  facts.schema_version = model->version();
  if (facts.schema_version != kExpectedSchemaVersion) return facts;  // TFLITE_SCHEMA_VERSION

  size_t n = 0;
  if (const auto* codes = model->operator_codes()) {
    for (const auto* code : *codes) {
      if (n == kMaxModelOps) break;
      ops_[n++] = tflite::EnumNameBuiltinOperator(tflite::GetBuiltinCode(code));
    }
  }
  facts.ops = ops_;
  facts.op_count = n;
  if (FirstUnsupportedOp(ops_, n) != nullptr) return facts;  // CheckModel reports reason=op

  if (!registered_) {
    bool ok = true;
#define KWS_OP(name, method) ok = ok && resolver_.method() == kTfLiteOk;
#include "supported_ops.def"
#undef KWS_OP
    registered_ = ok;
  }
  if (!registered_) return facts;  // allocate_ok stays false: reported as reason=arena

  interpreter_ = new (storage_) tflite::MicroInterpreter(model, resolver_, arena, arena_size);
  facts.allocate_ok = interpreter_->AllocateTensors() == kTfLiteOk;
  if (!facts.allocate_ok) return facts;
  facts.input = Facts(interpreter_->input(0));
  facts.output = Facts(interpreter_->output(0));
  ready_ = true;
  return facts;
}

size_t TflmEngine::ArenaUsed() const { return ready_ ? interpreter_->arena_used_bytes() : 0; }

bool TflmEngine::Invoke(const int8_t* in, size_t in_len, int8_t* out, size_t out_len) {
  if (!ready_) return false;
  TfLiteTensor* input = interpreter_->input(0);
  TfLiteTensor* output = interpreter_->output(0);
  if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8) return false;
  if (input->bytes != in_len || output->bytes != out_len) return false;
  std::memcpy(input->data.int8, in, in_len);
  if (interpreter_->Invoke() != kTfLiteOk) return false;
  std::memcpy(out, output->data.int8, out_len);
  return true;
}

}  // namespace kws
