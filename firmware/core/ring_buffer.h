// Fixed-capacity FIFO over a static array: no heap. When full, Push overwrites the oldest
// element (the recognizer and the audio path want the newest data, not back-pressure).
#ifndef KWS_CORE_RING_BUFFER_H_
#define KWS_CORE_RING_BUFFER_H_

#include <cstddef>

namespace kws {

template <typename T, size_t N>
class RingBuffer {
  static_assert(N > 0, "RingBuffer needs a capacity");

 public:
  size_t size() const { return size_; }
  static constexpr size_t capacity() { return N; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == N; }
  void clear() { head_ = size_ = 0; }

  // Appends `v`; returns false when the oldest element had to be dropped to make room.
  bool Push(const T& v) {
    const bool dropped = full();
    if (dropped) PopFront();
    items_[(head_ + size_) % N] = v;
    ++size_;
    return !dropped;
  }
  // Removes the oldest element; a no-op when empty.
  void PopFront() {
    if (size_ == 0) return;
    head_ = (head_ + 1) % N;
    --size_;
  }
  // i = 0 is the oldest. Precondition: i < size().
  const T& operator[](size_t i) const { return items_[(head_ + i) % N]; }
  T& operator[](size_t i) { return items_[(head_ + i) % N]; }
  const T& front() const { return (*this)[0]; }
  const T& back() const { return (*this)[size_ - 1]; }

 private:
  T items_[N] = {};
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace kws

#endif  // KWS_CORE_RING_BUFFER_H_
