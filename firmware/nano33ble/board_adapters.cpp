#include "board_adapters.h"

#include <Arduino.h>

#include <cstddef>
#include <cstdint>

#include "src/core/audio_ring.h"
#include "src/core/device.h"
#include "src/core/model_spec_from_settings.h"
#include "src/core/version.h"
#include "src/generated/model_settings.h"
#include "src/tflm/micro_frontend.h"
#include "src/tflm/model_boot.h"
#include "src/tflm/tflm_engine.h"

// Build with -DKWS_NANO33BLE_SENSE=1 for the BLE Sense's MP34DT05 PDM microphone.
#if KWS_NANO33BLE_SENSE
#include <PDM.h>
#endif

#ifndef KWS_MODEL_BUDGET_BYTES
#error "KWS_MODEL_BUDGET_BYTES/KWS_ARENA_BUDGET_BYTES come from hil/boards.yaml: build with make firmware BOARD=nano33ble"
#endif

namespace kws_board {
namespace {

namespace st = kws::settings;

class UsbTransport final : public kws::Transport {
 public:
  void Write(const uint8_t* data, size_t len) override { Serial.write(data, len); }
};

// DWT cycle counter (64 MHz) extended to 64 bits; the loop reads it far more often than
// its 67 s wrap, so no overflow is missed.
class CycleClock final : public kws::Clock {
 public:
  void Init() {
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
    DWT->CYCCNT = 0;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    last_ = DWT->CYCCNT;
  }
  uint32_t NowMs() override { return static_cast<uint32_t>(Cycles() / (SystemCoreClock / 1000u)); }
  uint32_t NowUs() override { return static_cast<uint32_t>(Cycles() / (SystemCoreClock / 1000000u)); }

 private:
  uint64_t Cycles() {
    const uint32_t now = DWT->CYCCNT;
    total_ += static_cast<uint32_t>(now - last_);
    last_ = now;
    return total_;
  }
  uint32_t last_ = 0;
  uint64_t total_ = 0;
};

class NanoSystem final : public kws::System {
 public:
  void Reset() override {
    Serial.flush();
    delay(20);  // let the USB host read m-ready before the port disappears
    NVIC_SystemReset();
  }
};

#if KWS_NANO33BLE_SENSE
kws::AudioRing<st::kClipSamples * 3 / 2> g_audio;

void OnPdm() {
  static int16_t chunk[256];
  const int bytes = PDM.available();
  const int take = bytes < static_cast<int>(sizeof(chunk)) ? bytes : static_cast<int>(sizeof(chunk));
  PDM.read(chunk, take);
  g_audio.Write(chunk, static_cast<size_t>(take) / sizeof(int16_t));
}

class PdmMic final : public kws::AudioSource {
 public:
  bool Start() override {
    if (started_) return true;
    PDM.onReceive(OnPdm);
    started_ = PDM.begin(1, st::kSampleRate) == 1;  // mono at the model's rate
    return started_;
  }
  bool Latest(int16_t* dst, size_t n, uint32_t* end_time_ms) override {
    uint32_t total = 0;
    if (!g_audio.Latest(dst, n, &total)) return false;
    *end_time_ms = static_cast<uint32_t>(static_cast<uint64_t>(total) * 1000 / st::kSampleRate);
    return true;
  }

 private:
  bool started_ = false;
};
PdmMic g_mic;
#endif

UsbTransport g_transport;
CycleClock g_clock;
NanoSystem g_system;
kws::MicroFrontend g_front_end;
kws::TflmEngine g_engine;
alignas(4) uint8_t g_payload[kws::kPayloadBytes];
int8_t g_features[st::kFeatureElementCount];
int16_t g_field_clip[st::kClipSamples];  // the one field-clip buffer (PROTOCOL.md)
kws::FieldClip g_clip(g_field_clip, st::kClipSamples);  // band off at boot
kws::Device* g_device = nullptr;

}  // namespace

void Setup() {
  Serial.begin(115200);  // hil/boards.yaml nano33ble.baud (USB CDC ignores it)
  g_clock.Init();
  const kws::BootStatus boot = kws::BootModel(
      g_engine, g_front_end, kws::BoardBudget{KWS_MODEL_BUDGET_BYTES, KWS_ARENA_BUDGET_BYTES});
  static kws::Device device(g_transport, g_clock, g_front_end, g_engine, g_system,
                            kws::DeviceConfig{"nano33ble", kws::kFirmwareVersion, true},
                            kws::ModelSpecFromSettings(),
                            kws::DeviceBuffers{g_payload, sizeof(g_payload), g_features,
                                               sizeof(g_features)});
  g_device = &device;
  device.AttachFieldClip(&g_clip);
#if KWS_NANO33BLE_SENSE
  device.AttachAudioSource(&g_mic);
#endif
  // USB CDC: wait (bounded) for the host to open the port so it sees the boot banner.
  const uint32_t start = millis();
  while (!Serial && millis() - start < 3000) {
  }
  device.Begin(boot);
}

void Loop() {
  while (Serial.available() > 0) g_device->OnByte(static_cast<uint8_t>(Serial.read()));
  g_device->Poll();
}

}  // namespace kws_board
