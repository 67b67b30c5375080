// Boot-time model setup shared by the board apps: builds the TFLM interpreter in the
// board's arena, initialises the microfrontend and judges the model with kws::CheckModel
// against the board's budget (hil/boards.yaml values: compiled in as
// KWS_MODEL_BUDGET_BYTES / KWS_ARENA_BUDGET_BYTES on boards, passed at start on the host).
#ifndef KWS_TFLM_MODEL_BOOT_H_
#define KWS_TFLM_MODEL_BOOT_H_

#include <cstddef>
#include <cstdint>

#include "boot_check.h"
#include "micro_frontend.h"
#include "model_config.h"
#include "tflm_engine.h"

namespace kws {

// Any model: `arena` holds `arena_size` bytes, aligned to 16.
BootStatus BootModel(TflmEngine& engine, MicroFrontend& front_end, const ModelConfig& config,
                     const unsigned char* model, size_t model_len, uint8_t* arena,
                     size_t arena_size, const BoardBudget& budget);

// The generated model (model_data.cc + model_settings.h) in a static arena of
// settings::kTensorArenaSize (model_boot_generated.cc).
BootStatus BootModel(TflmEngine& engine, MicroFrontend& front_end, const BoardBudget& budget);

}  // namespace kws

#endif  // KWS_TFLM_MODEL_BOOT_H_
