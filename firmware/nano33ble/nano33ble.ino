// Arduino Nano 33 BLE / BLE Sense app (arduino:mbed_nano:nano33ble): thin adapters (USB CDC
// transport, DWT cycle-counter clock, PDM microphone on the Sense, NVIC reset) over the
// portable core and the shared TFLM glue, staged under src/ by firmware/build_board.sh.
// The plain Nano 33 BLE has no microphone: it is fed audio over serial (`audio`, `features`).
#include <TensorFlowLite.h>  // pulls in the Arduino_TensorFlowLite library

#include "board_adapters.h"

void setup() { kws_board::Setup(); }

void loop() { kws_board::Loop(); }
