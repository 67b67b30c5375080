// Boot-time model setup shared by the board apps: builds the TFLM interpreter in a static
// arena of settings::kTensorArenaSize, initialises the microfrontend and judges the model
// with kws::CheckModel against the board's budget (hil/boards.yaml values passed by the
// build as KWS_MODEL_BUDGET_BYTES / KWS_ARENA_BUDGET_BYTES).
#ifndef KWS_TFLM_MODEL_BOOT_H_
#define KWS_TFLM_MODEL_BOOT_H_

#include "boot_check.h"
#include "micro_frontend.h"
#include "tflm_engine.h"

namespace kws {

BootStatus BootModel(TflmEngine& engine, MicroFrontend& front_end, const BoardBudget& budget);

}  // namespace kws

#endif  // KWS_TFLM_MODEL_BOOT_H_
