// The emulated Cortex-M4 board: the firmware (firmware/core + the TFLM glue + TFLM's CMSIS-NN
// kernels + the generated model) as a bare-metal image for qemu-system-arm -M mps2-an386,
// with thin adapters like the ESP32 and Nano 33 BLE ones:
//   - transport: the CMSDK APB UART0 (0x40004000), which QEMU bridges to a host pty
//     (-serial pty); received bytes wake the core from WFI through its RX interrupt;
//   - clock: SysTick on the 25 MHz system clock, extended to 64 bits by its interrupt. Under
//     `-icount shift=S` QEMU's virtual time advances 2^S ns per executed instruction (and
//     with real time while the core sleeps in WFI), so the guest counts instructions:
//     NowUs = instructions / (board clock in MHz), `latency=emulated` (an emulator's count at
//     the board's clock, never a board time); NowMs = virtual time (uptime, timeouts);
//   - audio: from the protocol only (`audio`, `features`, field clips): no microphone;
//   - reset: setup again in place (counters zero, banner again), as the host board does.
// Budgets, clock and icount shift come from hil/boards.yaml via the generated kws_m4_board.h
// (hil/memory_map.py); the memory map (firmware/m4/board.ld) is the board's flash and RAM.
// Static memory, and a bounded heap during setup only (the microfrontend's tables; _sbrk
// fails after boot); no exceptions, bounded buffers.
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "kws_m4_board.h"
#include "model_boot.h"
#include "model_settings.h"
#include "model_spec_from_settings.h"

static_assert(KWS_BOARD_CLOCK_HZ % 1000000u == 0, "board clock must be a whole number of MHz");

extern "C" {
void Reset_Handler(void);
void KwsStart(void);
void KwsFault(void);
void SysTick_Handler(void);
void Uart0Rx_Handler(void);
void _init(void);
void* _sbrk(ptrdiff_t);
extern void* __dso_handle;
int __cxa_atexit(void (*)(void*), void*, void*);
void __libc_init_array(void);
extern uint32_t __stack_top, __data_start__, __data_end__, __data_load__, __bss_start__,
    __bss_end__, __heap_start, __heap_end;
}
int main();
extern const char* const kKwsM4FirmwareVersion;  // version_stamp.cc: version + build stamp

namespace {

namespace st = kws::settings;

template <uintptr_t A>
struct Reg {
  static volatile uint32_t& r() { return *reinterpret_cast<volatile uint32_t*>(A); }
};

// CMSDK APB UART0 (ARM DDI 0479C, section 4.2).
constexpr uintptr_t kUart = 0x40004000u;
using UartData = Reg<kUart + 0x00>;
using UartState = Reg<kUart + 0x04>;  // bit0 TX full, bit1 RX full
using UartCtrl = Reg<kUart + 0x08>;   // bit0 TX en, bit1 RX en, bit3 RX interrupt en
using UartInt = Reg<kUart + 0x0C>;    // INTSTATUS (read) / INTCLEAR (write 1)
using UartBaudDiv = Reg<kUart + 0x10>;
constexpr uint32_t kTxFull = 1u, kRxFull = 2u;
// SysTick, NVIC, SCB (ARMv7-M ARM, B3.3, B3.4).
using SystCsr = Reg<0xE000E010u>;
using SystRvr = Reg<0xE000E014u>;
using SystCvr = Reg<0xE000E018u>;
using NvicIser0 = Reg<0xE000E100u>;
using ScbIcsr = Reg<0xE000ED04u>;
constexpr uint32_t kIcsrPendStSet = 1u << 26;

constexpr uint32_t kSysClockHz = 25000000u;  // mps2-an386 system clock (QEMU's mps2.c)
constexpr uint32_t kTickPeriod = 250000u;    // SysTick interrupt every 10 ms of virtual time
constexpr uint32_t kNsPerTick = 1000000000u / kSysClockHz;
constexpr uint32_t kTxTimeoutMs = 5000;  // no host reading for this long: output is dropped

volatile uint32_t g_periods = 0;  // SysTick interrupts since boot
bool g_heap_open = false;         // _sbrk serves the setup heap only during Boot()

// Virtual time in SysTick ticks since the clock started, monotonic.
class VirtualClock {
 public:
  void Init() {
    SystRvr::r() = kTickPeriod - 1;
    SystCvr::r() = 0;
    SystCsr::r() = 0x7;  // processor clock, interrupt, enable
  }
  uint64_t Ticks() {
    __asm volatile("cpsid i" ::: "memory");
    uint32_t periods = g_periods;
    uint32_t v = SystCvr::r();
    if (ScbIcsr::r() & kIcsrPendStSet) {  // wrapped, interrupt not yet taken
      v = SystCvr::r();
      ++periods;
    }
    __asm volatile("cpsie i" ::: "memory");
    uint64_t t = static_cast<uint64_t>(periods) * kTickPeriod + (kTickPeriod - 1 - v);
    if (t < last_) t = last_;
    last_ = t;
    return t;
  }

 private:
  uint64_t last_ = 0;
};

class EmulatedClock final : public kws::Clock {
 public:
  explicit EmulatedClock(VirtualClock& v) : v_(v) {}
  uint32_t NowMs() override { return static_cast<uint32_t>(v_.Ticks() / (kSysClockHz / 1000u)); }
  // Executed instructions (virtual ns / 2^shift) at the board's clock, in microseconds.
  uint32_t NowUs() override {
    const uint64_t instructions = (v_.Ticks() * kNsPerTick) >> KWS_ICOUNT_SHIFT;
    return static_cast<uint32_t>(instructions / (KWS_BOARD_CLOCK_HZ / 1000000u));
  }

 private:
  VirtualClock& v_;
};

class UartTransport final : public kws::Transport {
 public:
  explicit UartTransport(kws::Clock& clock) : clock_(clock) {}
  void Init() {
    UartBaudDiv::r() = kSysClockHz / KWS_BOARD_BAUD;
    UartCtrl::r() = 0x1u | 0x2u | 0x8u;
    NvicIser0::r() = 1u << 0;  // UART0 RX is IRQ 0 on mps2-an386
  }
  void Write(const uint8_t* data, size_t len) override {
    for (size_t i = 0; i < len; ++i) {
      if (UartState::r() & kTxFull) {
        const uint32_t start = clock_.NowMs();
        while (UartState::r() & kTxFull) {
          if (clock_.NowMs() - start > kTxTimeoutMs) return;  // the host is gone
        }
      }
      UartData::r() = data[i];
    }
  }

 private:
  kws::Clock& clock_;
};

class EmulatedSystem final : public kws::System {
 public:
  void Reset() override { pending = true; }
  bool pending = false;
};

VirtualClock g_virtual;
EmulatedClock g_clock(g_virtual);
UartTransport g_transport(g_clock);
EmulatedSystem g_system;
kws::MicroFrontend g_front_end;
kws::TflmEngine g_engine;
alignas(4) uint8_t g_payload[kws::kPayloadBytes];
int8_t g_features[st::kFeatureElementCount];
int16_t g_field_clip[st::kClipSamples];  // the one field-clip buffer (PROTOCOL.md)
kws::FieldClip g_clip(g_field_clip, st::kClipSamples);

// Test images only (kws_m4_board_plant_frontend / _output, KWS_PLANT=1 / 2): one front-end
// feature or one model output off by one, so the HIL parity and agreement checks can be
// shown to fail on this board too (as the host board's --plant).
#ifndef KWS_PLANT
#define KWS_PLANT 0
#endif
int8_t OffByOne(int8_t v) { return static_cast<int8_t>(v == 127 ? 126 : v + 1); }

class PlantedFrontEnd final : public kws::FrontEnd {
 public:
  bool Compute(const int16_t* pcm, size_t samples, int8_t* out, size_t out_len) override {
    const bool ok = g_front_end.Compute(pcm, samples, out, out_len);
    if (ok && KWS_PLANT == 1 && out_len > 0) out[0] = OffByOne(out[0]);
    return ok;
  }
};

class PlantedEngine final : public kws::InferenceEngine {
 public:
  bool Invoke(const int8_t* in, size_t in_len, int8_t* out, size_t out_len) override {
    const bool ok = g_engine.Invoke(in, in_len, out, out_len);
    if (ok && KWS_PLANT == 2 && out_len > 0) out[0] = OffByOne(out[0]);
    return ok;
  }
  size_t ArenaSize() const override { return g_engine.ArenaSize(); }
  size_t ArenaUsed() const override { return g_engine.ArenaUsed(); }
  const char* ModelSha256() const override { return g_engine.ModelSha256(); }
};

PlantedFrontEnd g_planted_front_end;
PlantedEngine g_planted_engine;
kws::FrontEnd& g_device_front_end =
    KWS_PLANT == 1 ? static_cast<kws::FrontEnd&>(g_planted_front_end) : g_front_end;
kws::InferenceEngine& g_device_engine =
    KWS_PLANT == 2 ? static_cast<kws::InferenceEngine&>(g_planted_engine) : g_engine;

kws::BootStatus Boot() {
  g_heap_open = true;
  const kws::BootStatus st = kws::BootModel(
      g_engine, g_front_end, kws::BoardBudget{KWS_MODEL_BUDGET_BYTES, KWS_ARENA_BUDGET_BYTES});
  g_heap_open = false;
  return st;
}

}  // namespace

int main() {
  g_virtual.Init();
  g_transport.Init();
  kws::BootStatus boot = Boot();
  static kws::Device device(
      g_transport, g_clock, g_device_front_end, g_device_engine, g_system,
      kws::DeviceConfig{KWS_BOARD_NAME, kKwsM4FirmwareVersion, false, true},
      kws::ModelSpecFromSettings(),
      kws::DeviceBuffers{g_payload, sizeof(g_payload), g_features, sizeof(g_features)});
  device.AttachFieldClip(&g_clip);  // band off at boot, as on the boards
  device.Begin(boot);  // said before anyone opens the pty: the host handshakes (`id`)
  for (;;) {
    while (UartState::r() & kRxFull) {
      device.OnByte(static_cast<uint8_t>(UartData::r()));
      if (g_system.pending) {  // a reset: setup again, counters zero, banner again
        g_system.pending = false;
        boot = Boot();
        device.Begin(boot);
      }
    }
    device.Poll();
    // Sleep until a byte or the next SysTick: QEMU's virtual time then follows real time.
    __asm volatile("cpsid i" ::: "memory");
    if (!(UartState::r() & kRxFull)) __asm volatile("wfi" ::: "memory");
    __asm volatile("cpsie i" ::: "memory");
  }
}

extern "C" {

void SysTick_Handler(void) { g_periods = g_periods + 1; }

void Uart0Rx_Handler(void) { UartInt::r() = 0x2u; }  // the main loop reads the byte

// The setup heap (board.ld's .heap): the microfrontend's C library mallocs its tables at
// boot. Open only during setup (Boot()); any allocation after it gets ENOMEM.
void* _sbrk(ptrdiff_t incr) {
  static uint8_t* brk = reinterpret_cast<uint8_t*>(&__heap_start);
  uint8_t* const end = reinterpret_cast<uint8_t*>(&__heap_end);
  if (!g_heap_open || incr < 0 || incr > end - brk) {
    errno = ENOMEM;
    return reinterpret_cast<void*>(-1);
  }
  uint8_t* const prev = brk;
  brk += incr;
  return prev;
}

void _init(void) {}  // __libc_init_array's hook (no crti with -nostartfiles)

// The board never exits: static destructors are never registered (no atexit storage).
void* __dso_handle = nullptr;
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }

// A fault ends QEMU with exit status 1 (semihosting SYS_EXIT, run-time error), so the
// launcher sees a dead board instead of a silent hang.
__attribute__((noreturn)) void KwsFault(void) {
  static const uint32_t block[2] = {0x20026u, 99};  // ADP_Stopped_RunTimeErrorUnknown
  register uint32_t r0 __asm("r0") = 0x18;          // SYS_EXIT
  register const uint32_t* r1 __asm("r1") = block;
  __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
  for (;;) {
  }
}

// As on a board: .data from its load address in flash, .bss zeroed, constructors, main.
__attribute__((noreturn)) void KwsStart(void) {
  const uint32_t* src = &__data_load__;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  __libc_init_array();
  main();
  KwsFault();
}

// CPACR (0xE000ED88) bits 20-23: the FPU, enabled before any hard-float code runs.
__attribute__((naked, noreturn)) void Reset_Handler(void) {
  __asm volatile(
      "ldr r0, =0xE000ED88\n"
      "ldr r1, [r0]\n"
      "orr r1, r1, #(0xF << 20)\n"
      "str r1, [r0]\n"
      "dsb\n"
      "isb\n"
      "b KwsStart\n");
}

__attribute__((section(".isr_vector"), used)) void (*const g_kws_vectors[17])(void) = {
    reinterpret_cast<void (*)(void)>(&__stack_top),
    Reset_Handler,
    KwsFault,  // NMI
    KwsFault,  // HardFault
    KwsFault,  // MemManage
    KwsFault,  // BusFault
    KwsFault,  // UsageFault
    nullptr, nullptr, nullptr, nullptr,
    KwsFault,  // SVCall
    KwsFault,  // DebugMon
    nullptr,
    KwsFault,  // PendSV
    SysTick_Handler,
    Uart0Rx_Handler,  // IRQ 0: UART0 RX
};

}  // extern "C"
