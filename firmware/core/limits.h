// Compile-time bounds of the core's own static state (model-sized buffers are the board's).
#ifndef KWS_CORE_LIMITS_H_
#define KWS_CORE_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace kws {

constexpr size_t kMaxLabels = 32;         // model outputs
constexpr size_t kMaxRecognizerResults = 64;  // >= average_window_ms / inference period
constexpr size_t kHistBins = 16;          // stats hist: bins of 16 int8 steps
constexpr uint32_t kMaxBenchRuns = 1000;  // bench n
constexpr uint32_t kMaxBenchWarmup = 100;
constexpr uint32_t kMaxMlperfRuns = 100000;  // MLPerf infer N
constexpr uint32_t kMaxMlperfWarmup = 10000;

}  // namespace kws

#endif  // KWS_CORE_LIMITS_H_
