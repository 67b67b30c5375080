#include "model_boot.h"

#include <cstring>

namespace kws {

BootStatus BootModel(TflmEngine& engine, MicroFrontend& front_end, const ModelConfig& config,
                     const unsigned char* model, size_t model_len, uint8_t* arena,
                     size_t arena_size, const BoardBudget& budget) {
  const ModelFacts facts = engine.Setup(model, model_len, arena, arena_size, config.sha256);
  BootStatus st = CheckModel(facts, config.spec, budget);
  if (st.ok() && !front_end.Init(config.frontend, config.spec.frames)) {
    st.reason = "arena";  // its tables did not fit in the heap, or its parameters are wrong
    std::strcpy(st.detail, "frontend");
  }
  return st;
}

}  // namespace kws
