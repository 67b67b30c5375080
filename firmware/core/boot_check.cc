#include "boot_check.h"

#include <cstring>

namespace kws {
namespace {

constexpr const char* kSupportedOps[] = {
#define KWS_OP(name, method) #name,
#include "supported_ops.def"
#undef KWS_OP
};

// Appends text/numbers to a BootStatus detail, truncating at its capacity.
class Detail {
 public:
  explicit Detail(char* buf, size_t cap) : buf_(buf), cap_(cap) { buf_[0] = '\0'; }
  Detail& Str(const char* s) {
    while (*s != '\0' && len_ + 1 < cap_) buf_[len_++] = *s++;
    buf_[len_] = '\0';
    return *this;
  }
  Detail& Int(int64_t v) {
    char tmp[24];
    size_t n = 0;
    const bool neg = v < 0;
    uint64_t m = neg ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
    do {
      tmp[n++] = static_cast<char>('0' + m % 10);
      m /= 10;
    } while (m != 0);
    if (neg) tmp[n++] = '-';
    char rev[25];
    for (size_t i = 0; i < n; ++i) rev[i] = tmp[n - 1 - i];
    rev[n] = '\0';
    return Str(rev);
  }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
};

void ShapeDetail(const TensorFacts& t, char* buf, size_t cap) {
  Detail d(buf, cap);
  if (t.dims <= 0) {
    d.Str("scalar");
    return;
  }
  for (int i = 0; i < t.dims && i < 4; ++i) {
    if (i > 0) d.Str("x");
    d.Int(t.shape[i]);
  }
  if (t.dims > 4) d.Str("x...");
}

bool InputShapeOk(const TensorFacts& t, const ModelSpec& s) {
  const auto f = static_cast<int32_t>(s.frames);
  const auto c = static_cast<int32_t>(s.channels);
  if (t.dims < 2 || t.dims > 4 || t.shape[0] != 1) return false;
  if (t.dims == 2) return t.shape[1] == f * c;  // micro_speech's flattened [1, 1960]
  if (t.dims == 3) return t.shape[1] == f && t.shape[2] == c;
  return t.shape[1] == f && t.shape[2] == c && t.shape[3] == 1;
}

bool OutputShapeOk(const TensorFacts& t, const ModelSpec& s) {
  return t.dims == 2 && t.shape[0] == 1 && t.shape[1] == static_cast<int32_t>(s.num_labels);
}

}  // namespace

const char* FirstUnsupportedOp(const char* const* ops, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    bool found = false;
    for (const char* known : kSupportedOps) found = found || std::strcmp(ops[i], known) == 0;
    if (!found) return ops[i];
  }
  return nullptr;
}

BootStatus CheckModel(const ModelFacts& facts, const ModelSpec& spec, const BoardBudget& budget) {
  BootStatus st;
  Detail d(st.detail, sizeof(st.detail));
  if (facts.schema_version != kExpectedSchemaVersion) {
    st.reason = "model-schema";
    d.Int(facts.schema_version);
    return st;
  }
  if (const char* op = FirstUnsupportedOp(facts.ops, facts.op_count)) {
    st.reason = "op";
    d.Str(op);
    return st;
  }
  if (facts.model_bytes > budget.model_budget_bytes) {
    st.reason = "budget";
    d.Str("model:").Int(static_cast<int64_t>(facts.model_bytes)).Str(">").Int(
        static_cast<int64_t>(budget.model_budget_bytes));
    return st;
  }
  if (facts.arena_size > budget.arena_budget_bytes) {
    st.reason = "budget";
    d.Str("arena:").Int(static_cast<int64_t>(facts.arena_size)).Str(">").Int(
        static_cast<int64_t>(budget.arena_budget_bytes));
    return st;
  }
  if (!facts.allocate_ok) {
    st.reason = "arena";
    d.Int(static_cast<int64_t>(facts.arena_size));
    return st;
  }
  if (!InputShapeOk(facts.input, spec)) {
    st.reason = "input-shape";
    ShapeDetail(facts.input, st.detail, sizeof(st.detail));
    return st;
  }
  if (!facts.input.is_int8) {
    st.reason = "input-type";
    d.Str(facts.input.type_name);
    return st;
  }
  if (!OutputShapeOk(facts.output, spec)) {
    st.reason = "output-shape";
    ShapeDetail(facts.output, st.detail, sizeof(st.detail));
    return st;
  }
  if (!facts.output.is_int8) {
    st.reason = "output-type";
    d.Str(facts.output.type_name);
    return st;
  }
  return st;
}

}  // namespace kws
