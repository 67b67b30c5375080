#include "harness.h"

#if defined(__arm__)
#include <unistd.h>
#endif

int main() {
  const int code = kws_test::RunAll() == 0 ? 0 : 1;
#if defined(__arm__)
  // On the emulated Cortex-M4 the run ends as a board's never does: through semihosting's
  // exit, without running static destructors (firmware objects live for the board's life).
  _exit(code);
#endif
  return code;
}
