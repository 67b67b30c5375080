#include "model_boot.h"

#include <cstring>

#include "model_data.h"
#include "model_settings.h"
#include "model_spec_from_settings.h"

namespace kws {
namespace {
alignas(16) uint8_t g_arena[settings::kTensorArenaSize];
}  // namespace

BootStatus BootModel(TflmEngine& engine, MicroFrontend& front_end, const BoardBudget& budget) {
  const ModelFacts facts =
      engine.Setup(g_kws_model_data, g_kws_model_data_len, g_arena, sizeof(g_arena),
                   settings::kOps, settings::kOpCount, settings::kModelSha256);
  BootStatus st = CheckModel(facts, ModelSpecFromSettings(), budget);
  if (st.ok() && !front_end.Init()) {  // its tables did not fit in the heap
    st.reason = "arena";
    std::strcpy(st.detail, "frontend");
  }
  return st;
}

}  // namespace kws
