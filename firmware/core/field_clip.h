// Field clips (PROTOCOL.md "Field clips"): the device keeps the last clip whose top score
// fell inside an uncertainty band, with its scores, so low-confidence audio heard in the
// field can be collected (`make collect`) and labelled. One clip buffer, owned by the board
// (static, clip_samples int16); off by default. Commands `clipband` and `clip` are answered
// by Device::CmdFieldClip (field_clip.cc); audio inferences are offered to Offer.
#ifndef KWS_CORE_FIELD_CLIP_H_
#define KWS_CORE_FIELD_CLIP_H_

#include <cstddef>
#include <cstdint>

#include "limits.h"
#include "text.h"

namespace kws {

// Inclusive band of the top label's int8 score; `on` false: nothing is kept.
struct ClipBand {
  bool on = false;
  int8_t lo = 0;
  int8_t hi = 0;
};

class FieldClip {
 public:
  // `pcm` holds `capacity` samples (>= the model's clip_samples, or no clip is ever kept);
  // `boot_band` is the band after every boot (a board may set one at build time).
  FieldClip(int16_t* pcm, size_t capacity, ClipBand boot_band = ClipBand{})
      : pcm_(pcm), capacity_(capacity), boot_band_(boot_band), band_(boot_band) {}

  // Boot: band back to the boot band, buffer empty, counter zero.
  void Reset();
  void SetBand(const ClipBand& band) { band_ = band; }
  const ClipBand& band() const { return band_; }

  // After an inference on audio: keeps a copy (replacing the held one) when the band is on
  // and scores[top] lies inside it. Returns true when the clip was kept.
  bool Offer(const int16_t* pcm, size_t samples, const int8_t* scores, size_t num_labels,
             int top);

  bool has_clip() const { return samples_ > 0; }
  uint32_t seq() const { return seq_; }  // clips kept since boot
  size_t samples() const { return samples_; }
  const int16_t* pcm() const { return pcm_; }
  const int8_t* scores() const { return scores_; }
  size_t num_labels() const { return num_labels_; }
  int top() const { return top_; }
  void Clear() { samples_ = 0; }

  // Writes "m-clip ..." (the held clip, then empties the buffer) or "m-clip n=0".
  void Write(LineWriter& out, const char* const* labels);

 private:
  int16_t* pcm_;
  size_t capacity_;
  ClipBand boot_band_;
  ClipBand band_;
  size_t samples_ = 0;
  uint32_t seq_ = 0;
  int8_t scores_[kMaxLabels] = {0};
  size_t num_labels_ = 0;
  int top_ = 0;
};

// Parses a signed decimal int8 token ("-128".."127"). False when it is not one.
bool ParseInt8(const char* s, size_t n, int8_t* out);

}  // namespace kws

#endif  // KWS_CORE_FIELD_CLIP_H_
