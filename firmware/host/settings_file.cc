#include "settings_file.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kws_host {
namespace {

bool ToLong(const char* v, long lo, long hi, long* out) {
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) return false;
  *out = x;
  return true;
}

bool ToFloat(const char* v, float* out) {
  char* end = nullptr;
  errno = 0;
  const float x = std::strtof(v, &end);
  if (errno != 0 || end == v || *end != '\0') return false;
  *out = x;
  return true;
}

bool ParseLabels(const char* v, SettingsFile* s) {
  const size_t n = std::strlen(v);
  if (n == 0 || n >= sizeof(s->labels_text)) return false;
  std::memcpy(s->labels_text, v, n + 1);
  size_t count = 0;
  char* p = s->labels_text;
  for (;;) {
    if (count == kws::kMaxLabels || *p == '\0' || *p == ',') return false;
    s->labels[count++] = p;
    char* comma = std::strchr(p, ',');
    if (comma == nullptr) break;
    *comma = '\0';
    p = comma + 1;
  }
  for (size_t i = 0; i < count; ++i) {
    for (const char* c = s->labels[i]; *c != '\0'; ++c) {
      if (*c <= ' ' || *c > '~') return false;
    }
  }
  s->config.spec.labels = s->labels;
  s->config.spec.num_labels = count;
  return true;
}

// One key; false when the key is unknown or its value is invalid.
bool Apply(const char* key, const char* v, SettingsFile* s, bool* known) {
  kws::ModelConfig& c = s->config;
  kws::FrontendParams& f = c.frontend;
  long x = 0;
  *known = true;
  const auto is = [key](const char* k) { return std::strcmp(key, k) == 0; };
  const long kBig = 1L << 30;
  if (is("labels")) return ParseLabels(v, s);
  if (is("sha256")) {
    if (std::strlen(v) != 64) return false;
    std::memcpy(s->sha256, v, 65);
    c.sha256 = s->sha256;
    return true;
  }
  if (is("output_scale")) return ToFloat(v, &c.spec.output_scale);
  if (is("lower_band_limit")) return ToFloat(v, &f.lower_band_limit);
  if (is("upper_band_limit")) return ToFloat(v, &f.upper_band_limit);
  if (is("even_smoothing")) return ToFloat(v, &f.even_smoothing);
  if (is("odd_smoothing")) return ToFloat(v, &f.odd_smoothing);
  if (is("min_signal_remaining")) return ToFloat(v, &f.min_signal_remaining);
  if (is("pcan_strength")) return ToFloat(v, &f.pcan_strength);
  if (is("pcan_offset")) return ToFloat(v, &f.pcan_offset);
  struct IntKey {
    const char* name;
    long lo, hi;
  };
  static const IntKey kInts[] = {
      {"frames", 1, 4096},          {"channels", 1, 1024},
      {"output_zero_point", -128, 127}, {"clip_samples", 1, 1 << 20},
      {"arena_size", 1, kBig},      {"sample_rate", 1000, 192000},
      {"window_size_ms", 1, 1000},  {"window_stride_ms", 1, 1000},
      {"smoothing_bits", 0, 31},    {"enable_pcan", 0, 1},
      {"gain_bits", 0, 31},         {"enable_log", 0, 1},
      {"scale_shift", 0, 31},       {"average_window_ms", 1, 60000},
      {"detection_threshold", 0, 255}, {"suppression_ms", 0, 60000},
      {"minimum_count", 0, 1000},
  };
  for (const IntKey& k : kInts) {
    if (!is(k.name)) continue;
    if (!ToLong(v, k.lo, k.hi, &x)) return false;
    const auto i = static_cast<int>(x);
    if (is("frames")) c.spec.frames = static_cast<size_t>(x);
    if (is("channels")) {
      c.spec.channels = static_cast<size_t>(x);
      f.num_channels = i;
    }
    if (is("output_zero_point")) c.spec.output_zero_point = i;
    if (is("clip_samples")) c.spec.clip_samples = static_cast<size_t>(x);
    if (is("arena_size")) c.arena_size = static_cast<size_t>(x);
    if (is("sample_rate")) f.sample_rate = i;
    if (is("window_size_ms")) f.window_size_ms = i;
    if (is("window_stride_ms")) f.window_stride_ms = i;
    if (is("smoothing_bits")) f.smoothing_bits = i;
    if (is("enable_pcan")) f.enable_pcan = x != 0;
    if (is("gain_bits")) f.gain_bits = i;
    if (is("enable_log")) f.enable_log = x != 0;
    if (is("scale_shift")) f.scale_shift = i;
    if (is("average_window_ms")) c.spec.recognizer.average_window_ms = static_cast<int32_t>(x);
    if (is("detection_threshold")) c.spec.recognizer.detection_threshold = i;
    if (is("suppression_ms")) c.spec.recognizer.suppression_ms = static_cast<int32_t>(x);
    if (is("minimum_count")) c.spec.recognizer.minimum_count = i;
    return true;
  }
  *known = false;
  return false;
}

}  // namespace

bool ParseSettings(const char* text, SettingsFile* out, char* error, size_t error_size) {
  static const char* const kRequired[] = {"labels",       "frames",     "channels",
                                          "output_scale", "output_zero_point",
                                          "clip_samples", "arena_size", "sha256"};
  bool seen[sizeof(kRequired) / sizeof(kRequired[0])] = {false};
  int line_no = 0;
  const char* p = text;
  while (*p != '\0') {
    ++line_no;
    const char* eol = std::strchr(p, '\n');
    const size_t n = eol != nullptr ? static_cast<size_t>(eol - p) : std::strlen(p);
    char line[1024];
    if (n >= sizeof(line)) {
      std::snprintf(error, error_size, "line %d: longer than %zu bytes", line_no, sizeof(line) - 1);
      return false;
    }
    std::memcpy(line, p, n);
    line[n] = '\0';
    p += n + (eol != nullptr ? 1 : 0);
    if (n == 0 || line[0] == '#') continue;
    char* eq = std::strchr(line, '=');
    if (eq == nullptr) {
      std::snprintf(error, error_size, "line %d: not key=value", line_no);
      return false;
    }
    *eq = '\0';
    bool known = false;
    if (!Apply(line, eq + 1, out, &known)) {
      std::snprintf(error, error_size, known ? "%s: invalid value '%s'" : "%s: unknown key%s",
                    line, known ? eq + 1 : "");
      return false;
    }
    for (size_t i = 0; i < sizeof(kRequired) / sizeof(kRequired[0]); ++i) {
      seen[i] = seen[i] || std::strcmp(line, kRequired[i]) == 0;
    }
  }
  for (size_t i = 0; i < sizeof(kRequired) / sizeof(kRequired[0]); ++i) {
    if (!seen[i]) {
      std::snprintf(error, error_size, "%s: missing", kRequired[i]);
      return false;
    }
  }
  if (out->config.frontend.num_channels != static_cast<int>(out->config.spec.channels)) {
    std::snprintf(error, error_size, "channels: differs from the front-end's channels");
    return false;
  }
  return true;
}

}  // namespace kws_host
