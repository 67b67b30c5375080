// Minimal Cortex-M4 startup for QEMU's mps2-an386: the vector table at address 0 (QEMU
// reads the initial SP and reset vector from there), the FPU enabled before any hard-float
// code runs, then newlib's rdimon crt0 (_start: zeroes .bss, sets up semihosting stdio,
// runs constructors, calls main, and exits with main's return value through semihosting,
// which QEMU turns into its own exit code). .data needs no copy: the ELF is loaded into RAM
// at its link addresses (see mps2_an386.ld).
#include <stdint.h>

extern uint32_t __stack_top;
extern void _start(void);

void Reset_Handler(void);
void Fault_Handler(void);

// CPACR (0xE000ED88) bits 20-23: full access to coprocessors 10 and 11, the FPU.
__attribute__((naked, noreturn)) void Reset_Handler(void) {
  __asm volatile(
      "ldr r0, =0xE000ED88\n"
      "ldr r1, [r0]\n"
      "orr r1, r1, #(0xF << 20)\n"
      "str r1, [r0]\n"
      "dsb\n"
      "isb\n"
      "b _start\n");
}

// Any fault ends the run with a failure code instead of hanging QEMU (ctest would time out).
__attribute__((noreturn)) void Fault_Handler(void) {
  // Angel SYS_EXIT with a run-time-error reason: QEMU exits with status 1.
  static const uint32_t block[2] = {0x20026u /* ADP_Stopped_RunTimeErrorUnknown */, 99};
  register uint32_t r0 __asm("r0") = 0x18;  // SYS_EXIT
  register const uint32_t* r1 __asm("r1") = block;
  __asm volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
  for (;;) {
  }
}

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))(&__stack_top),
    Reset_Handler,
    Fault_Handler,  // NMI
    Fault_Handler,  // HardFault
    Fault_Handler,  // MemManage
    Fault_Handler,  // BusFault
    Fault_Handler,  // UsageFault
    0, 0, 0, 0,
    Fault_Handler,  // SVCall
    Fault_Handler,  // DebugMon
    0,
    Fault_Handler,  // PendSV
    Fault_Handler,  // SysTick
};
