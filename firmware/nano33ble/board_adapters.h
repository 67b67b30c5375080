// Nano 33 BLE adapters behind two calls the sketch makes (setup/loop).
#ifndef KWS_NANO33BLE_BOARD_ADAPTERS_H_
#define KWS_NANO33BLE_BOARD_ADAPTERS_H_

namespace kws_board {
void Setup();
void Loop();
}  // namespace kws_board

#endif  // KWS_NANO33BLE_BOARD_ADAPTERS_H_
