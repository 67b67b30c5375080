// Single-producer/single-consumer ring of int16 audio samples for live microphones: the
// I2S task or PDM interrupt Writes, the main loop copies the newest clip with Latest.
// No locks: the producer only advances `written_` after storing samples, and the consumer
// reads `written_` once; with a capacity of >= 1.5 clips the producer cannot overwrite the
// samples being copied unless the loop stalls for half a clip.
#ifndef KWS_CORE_AUDIO_RING_H_
#define KWS_CORE_AUDIO_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace kws {

template <size_t N>
class AudioRing {
 public:
  // Producer side (ISR or task).
  void Write(const int16_t* samples, size_t n) {
    uint32_t w = written_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < n; ++i) buf_[(w + i) % N] = samples[i];
    written_.store(w + static_cast<uint32_t>(n), std::memory_order_release);
  }
  // Consumer side: copies the newest n (<= N) samples, oldest first; false when fewer
  // than n have been written since Reset.
  bool Latest(int16_t* dst, size_t n, uint32_t* total_written) const {
    const uint32_t w = written_.load(std::memory_order_acquire);
    if (n > N || w < n) return false;
    const uint32_t start = w - static_cast<uint32_t>(n);
    for (size_t i = 0; i < n; ++i) dst[i] = buf_[(start + i) % N];
    *total_written = w;
    return true;
  }
  void Reset() { written_.store(0, std::memory_order_release); }

 private:
  int16_t buf_[N] = {0};
  std::atomic<uint32_t> written_{0};
};

}  // namespace kws

#endif  // KWS_CORE_AUDIO_RING_H_
