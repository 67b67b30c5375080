// Host tool for the Python/C++ recognizer parity test (tests/test_firmware.py): reads
//   line 1: <average_window_ms> <threshold> <suppression_ms> <minimum_count> <label>...
//   then:   <time_ms> <score0> ... <scoreN-1>          (int8 scores)
// and prints one line per result: "<decided> <top> <score> <is_new>" or "older".
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "recognizer.h"

int main() {
  static char names[kws::kMaxLabels][64];
  static const char* labels[kws::kMaxLabels];
  long window = 0;
  long threshold = 0;
  long suppression = 0;
  long minimum = 0;
  if (std::scanf("%ld %ld %ld %ld", &window, &threshold, &suppression, &minimum) != 4) return 2;
  size_t n = 0;
  int c = 0;
  while ((c = std::getchar()) != EOF && c != '\n') {
    if (c == ' ') continue;
    std::ungetc(c, stdin);
    if (n == kws::kMaxLabels || std::scanf("%63s", names[n]) != 1) return 2;
    labels[n] = names[n];
    ++n;
  }
  kws::Recognizer r;
  const kws::RecognizerConfig config{static_cast<uint32_t>(window), static_cast<int32_t>(threshold),
                                     static_cast<uint32_t>(suppression),
                                     static_cast<uint32_t>(minimum)};
  if (r.Init(config, n, labels) != kws::RecognizerStatus::kOk) return 2;
  unsigned long time_ms = 0;
  while (std::scanf("%lu", &time_ms) == 1) {
    int8_t scores[kws::kMaxLabels];
    for (size_t i = 0; i < n; ++i) {
      int s = 0;
      if (std::scanf("%d", &s) != 1) return 2;
      scores[i] = static_cast<int8_t>(s);
    }
    kws::Recognition out;
    if (r.Process(scores, static_cast<uint32_t>(time_ms), &out) == kws::RecognizerStatus::kOlderResult) {
      std::printf("older\n");
      continue;
    }
    std::printf("%d %d %d %d\n", out.decided ? 1 : 0, out.top_label, static_cast<int>(out.score),
                out.is_new ? 1 : 0);
  }
  return 0;
}
