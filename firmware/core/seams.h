// The seams between the portable core and a board. A board port implements these (thin
// adapters over UART/USB, a timer, the microphone, TFLM and the microfrontend) and hands
// them to kws::Device; host tests implement them with fakes. All calls come from the one
// thread that drives the Device; none may allocate after setup or throw.
#ifndef KWS_CORE_SEAMS_H_
#define KWS_CORE_SEAMS_H_

#include <cstddef>
#include <cstdint>

namespace kws {

// Bytes to the host. Write must send all `len` bytes before returning (block on a full
// FIFO; the protocol is request/response, so blocking is bounded by the line rate).
class Transport {
 public:
  virtual void Write(const uint8_t* data, size_t len) = 0;

 protected:
  ~Transport() = default;  // never deleted through the interface: no heap
};

// Monotonic time since boot. Both counters wrap at 2^32; the core only subtracts them.
// NowUs must resolve at least 10 us (boards use the cycle counter / a 1 MHz timer).
class Clock {
 public:
  virtual uint32_t NowMs() = 0;
  virtual uint32_t NowUs() = 0;

 protected:
  ~Clock() = default;
};

// Live microphone (I2S on the ESP32, PDM on the Nano 33 BLE Sense). Copies the newest
// `n` samples (mono int16 at the model's sample rate) into `dst` and returns the time in
// ms of the last copied sample, or returns false when fewer than `n` samples have been
// captured since Start. Boards without a microphone pass no AudioSource.
class AudioSource {
 public:
  virtual bool Start() = 0;
  virtual bool Latest(int16_t* dst, size_t n, uint32_t* end_time_ms) = 0;

 protected:
  ~AudioSource() = default;
};

// PCM -> int8 features, exactly as ml/frontend.py (TFLM microfrontend + micro_speech's int8
// mapping). Compute processes one whole clip from a fresh front-end state: `pcm` has
// exactly clip_samples samples (the core zero-pads short audio), `out` receives
// frames x channels values, row-major by frame. Returns false on failure.
class FrontEnd {
 public:
  virtual bool Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) = 0;

 protected:
  ~FrontEnd() = default;
};

// int8 features -> int8 scores (the model's raw int8 outputs, in label order).
// `in_len` = frames x channels, `out_len` = labels; both checked by the engine.
// ArenaSize/ArenaUsed: the tensor arena's bytes and the bytes TFLM allocated from it.
// ModelSha256: 64 lowercase hex characters of the model bytes (from model_settings.h).
class InferenceEngine {
 public:
  virtual bool Invoke(const int8_t* in, size_t in_len, int8_t* out, size_t out_len) = 0;
  virtual size_t ArenaSize() const = 0;
  virtual size_t ArenaUsed() const = 0;
  virtual const char* ModelSha256() const = 0;

 protected:
  ~InferenceEngine() = default;
};

// Restart the chip (esp_restart, NVIC_SystemReset). Called after `m-reset`/`m-ready`
// have been written and flushed; on a board it does not return. Host fakes record it.
class System {
 public:
  virtual void Reset() = 0;

 protected:
  ~System() = default;
};

}  // namespace kws

#endif  // KWS_CORE_SEAMS_H_
