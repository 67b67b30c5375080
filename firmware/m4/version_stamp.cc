// The firmware version with this build's provenance stamp (-DKWS_BUILD_STAMP, re-stamped at
// every configure): one small object shared by the M4 images, so a new stamp recompiles this
// file only, not board.cc three times.
#include "version.h"

#ifndef KWS_BUILD_STAMP
#error "KWS_BUILD_STAMP: build the M4 board with firmware/CMakeLists.txt (make m4-board)"
#endif

extern const char* const kKwsM4FirmwareVersion;
const char* const kKwsM4FirmwareVersion = kws::kFirmwareVersion;
