// ESP32 app: thin adapters (UART0 transport, esp_timer clock, I2S microphone, restart) over
// the portable core (firmware/core) and the shared TFLM glue (firmware/tflm).
#include <cstddef>
#include <cstdint>

#include "audio_ring.h"
#include "device.h"
#include "driver/i2s_std.h"
#include "driver/uart.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "micro_frontend.h"
#include "model_boot.h"
#include "model_settings.h"
#include "model_spec_from_settings.h"
#include "tflm_engine.h"
#include "version.h"

namespace {

namespace st = kws::settings;

constexpr uart_port_t kUart = UART_NUM_0;  // the DevKitC's USB-UART bridge
constexpr int kBaud = 115200;              // hil/boards.yaml esp32.baud
// I2S MEMS microphone (e.g. INMP441) pins, as in esp-tflite-micro's micro_speech example.
constexpr gpio_num_t kMicSck = GPIO_NUM_26;
constexpr gpio_num_t kMicWs = GPIO_NUM_32;
constexpr gpio_num_t kMicSd = GPIO_NUM_33;

class UartTransport final : public kws::Transport {
 public:
  void Write(const uint8_t* data, size_t len) override {
    uart_write_bytes(kUart, reinterpret_cast<const char*>(data), len);
  }
};

// esp_timer: 1 us resolution from boot; truncation to 32 bits wraps as the core expects.
class EspClock final : public kws::Clock {
 public:
  uint32_t NowMs() override { return static_cast<uint32_t>(esp_timer_get_time() / 1000); }
  uint32_t NowUs() override { return static_cast<uint32_t>(esp_timer_get_time()); }
};

class EspSystem final : public kws::System {
 public:
  void Reset() override {
    uart_wait_tx_done(kUart, pdMS_TO_TICKS(100));  // m-reset / m-ready leave first
    esp_restart();
  }
};

// 1.5 s of audio: Latest copies a 1 s clip while the I2S task keeps writing.
kws::AudioRing<st::kClipSamples * 3 / 2> g_audio;

class I2sMic final : public kws::AudioSource {
 public:
  bool Start() override {
    if (started_) return true;
    i2s_chan_config_t chan = I2S_CHANNEL_DEFAULT_CONFIG(I2S_NUM_0, I2S_ROLE_MASTER);
    i2s_std_config_t std_cfg = {
        .clk_cfg = I2S_STD_CLK_DEFAULT_CONFIG(st::kSampleRate),
        .slot_cfg = I2S_STD_PHILIPS_SLOT_DEFAULT_CONFIG(I2S_DATA_BIT_WIDTH_16BIT, I2S_SLOT_MODE_MONO),
        .gpio_cfg = {.mclk = I2S_GPIO_UNUSED,
                     .bclk = kMicSck,
                     .ws = kMicWs,
                     .dout = I2S_GPIO_UNUSED,
                     .din = kMicSd,
                     .invert_flags = {.mclk_inv = false, .bclk_inv = false, .ws_inv = false}},
    };
    if (i2s_new_channel(&chan, nullptr, &rx_) != ESP_OK ||
        i2s_channel_init_std_mode(rx_, &std_cfg) != ESP_OK || i2s_channel_enable(rx_) != ESP_OK) {
      return false;
    }
    started_ = xTaskCreate(&I2sMic::Task, "kws_mic", 4096, this, 5, nullptr) == pdPASS;
    return started_;
  }
  bool Latest(int16_t* dst, size_t n, uint32_t* end_time_ms) override {
    uint32_t total = 0;
    if (!g_audio.Latest(dst, n, &total)) return false;
    *end_time_ms = static_cast<uint32_t>(static_cast<uint64_t>(total) * 1000 / st::kSampleRate);
    return true;
  }

 private:
  static void Task(void* arg) {
    auto* self = static_cast<I2sMic*>(arg);
    static int16_t chunk[320];  // 20 ms
    for (;;) {
      size_t got = 0;
      if (i2s_channel_read(self->rx_, chunk, sizeof(chunk), &got, portMAX_DELAY) == ESP_OK) {
        g_audio.Write(chunk, got / sizeof(int16_t));
      }
    }
  }
  i2s_chan_handle_t rx_ = nullptr;
  bool started_ = false;
};

alignas(4) uint8_t g_payload[kws::kPayloadBytes];
int8_t g_features[st::kFeatureElementCount];
int16_t g_field_clip[st::kClipSamples];  // the one field-clip buffer (PROTOCOL.md)

}  // namespace

extern "C" void app_main() {
  const uart_config_t cfg = {.baud_rate = kBaud,
                             .data_bits = UART_DATA_8_BITS,
                             .parity = UART_PARITY_DISABLE,
                             .stop_bits = UART_STOP_BITS_1,
                             .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
                             .rx_flow_ctrl_thresh = 0,
                             .source_clk = UART_SCLK_DEFAULT};
  // RX FIFO of 4 KB: a 32 KB audio payload streams in while the loop drains it.
  uart_driver_install(kUart, 4096, 2048, 0, nullptr, 0);
  uart_param_config(kUart, &cfg);

  static UartTransport transport;
  static EspClock clock;
  static EspSystem system;
  static I2sMic mic;
  static kws::MicroFrontend front_end;
  static kws::TflmEngine engine;
  const kws::BootStatus boot = kws::BootModel(
      engine, front_end, kws::BoardBudget{KWS_MODEL_BUDGET_BYTES, KWS_ARENA_BUDGET_BYTES});
  static kws::Device device(transport, clock, front_end, engine, system,
                            kws::DeviceConfig{"esp32", kws::kFirmwareVersion, true},
                            kws::ModelSpecFromSettings(),
                            kws::DeviceBuffers{g_payload, sizeof(g_payload), g_features,
                                               sizeof(g_features)});
  device.AttachAudioSource(&mic);
  static kws::FieldClip field_clip(g_field_clip, st::kClipSamples);  // band off at boot
  device.AttachFieldClip(&field_clip);
  device.Begin(boot);

  uint8_t rx[128];
  for (;;) {
    const int n = uart_read_bytes(kUart, rx, sizeof(rx), pdMS_TO_TICKS(5));
    for (int i = 0; i < n; ++i) device.OnByte(rx[i]);
    device.Poll();
  }
}
