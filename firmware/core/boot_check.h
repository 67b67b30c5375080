// Boot-time model validation (PROTOCOL.md "Boot"): a board adapter reads the facts from
// TFLM (schema version, tensor shapes and types, arena use) and the generated settings;
// this pure function decides, so the rules are unit-tested on the host.
#ifndef KWS_CORE_BOOT_CHECK_H_
#define KWS_CORE_BOOT_CHECK_H_

#include <cstddef>
#include <cstdint>

#include "model_spec.h"

namespace kws {

constexpr uint32_t kExpectedSchemaVersion = 3;  // TFLITE_SCHEMA_VERSION

struct TensorFacts {
  int dims = 0;
  int32_t shape[4] = {0, 0, 0, 0};
  bool is_int8 = false;
  const char* type_name = "";  // e.g. "int8", "float32": echoed as the e-boot detail
};

struct ModelFacts {
  uint32_t schema_version = 0;
  bool allocate_ok = false;  // AllocateTensors succeeded in the arena
  TensorFacts input;
  TensorFacts output;
  size_t model_bytes = 0;
  size_t arena_size = 0;  // bytes reserved for the tensor arena
  const char* const* ops = nullptr;  // builtin op names the model uses (settings::kOps)
  size_t op_count = 0;
};

struct BoardBudget {
  size_t model_budget_bytes;  // hil/boards.yaml
  size_t arena_budget_bytes;
};

// reason == nullptr: the model is usable. Otherwise reason is one PROTOCOL.md token and
// detail a token without spaces naming what was wrong.
struct BootStatus {
  const char* reason = nullptr;
  char detail[40] = {0};
  bool ok() const { return reason == nullptr; }
};

// Checks, in this order: schema, op list (against supported_ops.def), budget, arena,
// input shape/type, output shape/type.
BootStatus CheckModel(const ModelFacts& facts, const ModelSpec& spec, const BoardBudget& budget);

// The first op in `ops` not in supported_ops.def, or nullptr when all are supported.
const char* FirstUnsupportedOp(const char* const* ops, size_t count);

}  // namespace kws

#endif  // KWS_CORE_BOOT_CHECK_H_
