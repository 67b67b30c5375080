#include "field_clip.h"

#include <algorithm>
#include <cstring>

#include "base64.h"
#include "crc32.h"
#include "device.h"

namespace kws {
namespace {

constexpr size_t kChunkSamples = 24;  // 48 bytes -> 64 base64 characters

// Little-endian bytes of samples [i, i + n) (n <= kChunkSamples) into out.
size_t LeBytes(const int16_t* pcm, size_t i, size_t n, uint8_t* out) {
  for (size_t k = 0; k < n; ++k) {
    const auto v = static_cast<uint16_t>(pcm[i + k]);
    out[2 * k] = static_cast<uint8_t>(v & 0xff);
    out[2 * k + 1] = static_cast<uint8_t>(v >> 8);
  }
  return 2 * n;
}

}  // namespace

bool ParseInt8(const char* s, size_t n, int8_t* out) {
  const bool neg = n > 0 && s[0] == '-';
  uint32_t v = 0;
  if (n - (neg ? 1 : 0) > 3 || !ParseDecimal(s + (neg ? 1 : 0), n - (neg ? 1 : 0), &v)) {
    return false;
  }
  if (neg ? v > 128 : v > 127) return false;
  *out = static_cast<int8_t>(neg ? -static_cast<int32_t>(v) : static_cast<int32_t>(v));
  return true;
}

void FieldClip::Reset() {
  band_ = boot_band_;
  samples_ = 0;
  seq_ = 0;
}

bool FieldClip::Offer(const int16_t* pcm, size_t samples, const int8_t* scores,
                      size_t num_labels, int top) {
  if (!band_.on || samples == 0 || samples > capacity_ || num_labels > kMaxLabels || top < 0 ||
      static_cast<size_t>(top) >= num_labels) {
    return false;
  }
  const int8_t s = scores[top];
  if (s < band_.lo || s > band_.hi) return false;
  std::memcpy(pcm_, pcm, samples * sizeof(int16_t));
  std::memcpy(scores_, scores, num_labels);
  samples_ = samples;
  num_labels_ = num_labels;
  top_ = top;
  ++seq_;
  return true;
}

void FieldClip::Write(LineWriter& out, const char* const* labels) {
  if (!has_clip()) {
    out.Str("m-clip n=0").End();
    return;
  }
  uint8_t bytes[2 * kChunkSamples];
  uint32_t crc = 0;
  for (size_t i = 0; i < samples_; i += kChunkSamples) {
    const size_t n = std::min(kChunkSamples, samples_ - i);
    crc = Crc32Update(crc, bytes, LeBytes(pcm_, i, n, bytes));
  }
  out.Str("m-clip seq=").U32(seq_).Str(" idx=").I32(top_).Str(" label=").Str(labels[top_]);
  out.Str(" score=").I32(scores_[top_]).Str(" scores=");
  for (size_t i = 0; i < num_labels_; ++i) {
    if (i > 0) out.Char(',');
    out.I32(scores_[i]);
  }
  out.Str(" n=").U32(static_cast<uint32_t>(2 * samples_)).Str(" crc=").Hex32(crc).Str(" b64=");
  char chunk[Base64Length(2 * kChunkSamples)];
  for (size_t i = 0; i < samples_; i += kChunkSamples) {
    const size_t n = std::min(kChunkSamples, samples_ - i);
    const size_t len = LeBytes(pcm_, i, n, bytes);
    out.Bytes(chunk, Base64Encode(bytes, len, chunk, sizeof(chunk)));
  }
  out.End();
  Clear();  // taken: the next `clip` returns a newer one or n=0
}

// ---------------------------------------------------------------- the Device's hooks

void Device::CmdFieldClip(const Token* tok, size_t count) {
  const bool band_cmd = TokenIs(tok[0], "clipband");
  const char* name = band_cmd ? "clipband" : "clip";
  if (safe_mode()) return ErrNotReady();
  if (field_clip_ == nullptr) {
    Err().Str("not-ready reason=no-clip-buffer");
    out_.End();
    return;
  }
  if (!band_cmd) {
    if (count != 1) return ErrBadArgs(name);
    return field_clip_->Write(out_, spec_.labels);
  }
  ClipBand band = field_clip_->band();
  if (count == 2 && TokenIs(tok[1], "off")) {
    band.on = false;
  } else if (count == 3) {
    ClipBand b{true, 0, 0};
    if (!ParseInt8(tok[1].p, tok[1].n, &b.lo) || !ParseInt8(tok[2].p, tok[2].n, &b.hi) ||
        b.lo > b.hi) {
      return ErrBadArgs(name);
    }
    band = b;
  } else if (count != 1) {
    return ErrBadArgs(name);
  }
  field_clip_->SetBand(band);
  out_.Str("m-clipband state=").Str(band.on ? "on" : "off");
  if (band.on) out_.Str(" lo=").I32(band.lo).Str(" hi=").I32(band.hi);
  out_.End();
}

void Device::OfferFieldClip() {
  if (field_clip_ == nullptr) return;
  field_clip_->Offer(reinterpret_cast<const int16_t*>(buffers_.payload), spec_.clip_samples,
                     scores_, spec_.num_labels, TopLabel());
}

}  // namespace kws
