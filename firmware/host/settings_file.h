// The host board's model settings, read at start from a text file of `key=value` lines
// (hil/virtual/board.py writes it from model_settings.json): the same facts the board apps
// take from the generated model_settings.h. Unknown keys are errors; a missing key keeps the
// FrontendParams default (micro_speech's) only for the front-end's optional parameters.
#ifndef KWS_HOST_SETTINGS_FILE_H_
#define KWS_HOST_SETTINGS_FILE_H_

#include <cstddef>

#include "limits.h"
#include "model_config.h"

namespace kws_host {

struct SettingsFile {
  kws::ModelConfig config;
  // Storage the config's pointers refer to.
  char labels_text[kws::kMaxLabels * 32] = {0};
  const char* labels[kws::kMaxLabels] = {nullptr};
  char sha256[65] = {0};
};

// Parses `text` into `out`. On failure returns false and writes a one-line reason naming the
// key (or line) to `error`.
bool ParseSettings(const char* text, SettingsFile* out, char* error, size_t error_size);

}  // namespace kws_host

#endif  // KWS_HOST_SETTINGS_FILE_H_
