#include "harness.h"

namespace kws_test {
namespace {
constexpr int kMaxTests = 256;
TestCase g_tests[kMaxTests];
int g_count = 0;
int g_dropped = 0;  // registrations past kMaxTests: never run, so the run must fail
int g_failures = 0;
bool g_current_failed = false;
}  // namespace

bool Register(const char* name, TestFn fn) {
  if (g_count < kMaxTests) {
    g_tests[g_count++] = TestCase{name, fn};
  } else {
    ++g_dropped;
  }
  return true;
}

void Fail(const char* file, int line, const char* what) {
  std::printf("%s:%d: FAILED: %s\n", file, line, what);
  g_current_failed = true;
}

// Shows control characters so protocol lines ("\r\n") are readable in failures.
static void PrintEscaped(const char* s) {
  for (; *s != '\0'; ++s) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '\r') {
      std::printf("\\r");
    } else if (c == '\n') {
      std::printf("\\n");
    } else if (c < 0x20 || c > 0x7e) {
      std::printf("\\x%02x", c);
    } else {
      std::putchar(c);
    }
  }
}

void FailStr(const char* file, int line, const char* expr, const char* got, const char* want) {
  std::printf("%s:%d: FAILED: %s\n  got:  \"", file, line, expr);
  PrintEscaped(got);
  std::printf("\"\n  want: \"");
  PrintEscaped(want);
  std::printf("\"\n");
  g_current_failed = true;
}

void FailInt(const char* file, int line, const char* expr, long long got, long long want) {
  std::printf("%s:%d: FAILED: %s: got %lld, want %lld\n", file, line, expr, got, want);
  g_current_failed = true;
}

int RunAll() {
  for (int i = 0; i < g_count; ++i) {
    g_current_failed = false;
    g_tests[i].fn();
    if (g_current_failed) ++g_failures;
    std::printf("[%s] %s\n", g_current_failed ? "FAIL" : " ok ", g_tests[i].name);
  }
  std::printf("%d tests, %d failed\n", g_count, g_failures);
  // A binary that ran nothing, or that holds more tests than it ran, is not a green run.
  if (g_count == 0) {
    std::printf("FAILED: no tests registered\n");
    return 1;
  }
  if (g_dropped > 0) {
    std::printf("FAILED: %d tests registered beyond kMaxTests=%d were not run\n", g_dropped,
                kMaxTests);
    return 1;
  }
  return g_failures;
}

}  // namespace kws_test
