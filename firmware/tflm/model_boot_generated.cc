// BootModel for the generated model: the board apps' boot (esp32, nano33ble, the M4 image).
#include "model_boot.h"
#include "model_config_from_settings.h"
#include "model_data.h"
#include "model_settings.h"

namespace kws {
namespace {
alignas(16) uint8_t g_arena[settings::kTensorArenaSize];
}  // namespace

BootStatus BootModel(TflmEngine& engine, MicroFrontend& front_end, const BoardBudget& budget) {
  return BootModel(engine, front_end, ModelConfigFromSettings(), g_kws_model_data,
                   g_kws_model_data_len, g_arena, sizeof(g_arena), budget);
}

}  // namespace kws
