// A minimal test harness that runs the same on the host and on the emulated Cortex-M4
// (printf over semihosting): no heap, no exceptions. main() returns the failure count.
#ifndef KWS_CORE_TESTS_HARNESS_H_
#define KWS_CORE_TESTS_HARNESS_H_

#include <cstdio>
#include <cstring>

namespace kws_test {

using TestFn = void (*)();
struct TestCase {
  const char* name;
  TestFn fn;
};

bool Register(const char* name, TestFn fn);
void Fail(const char* file, int line, const char* what);
void FailStr(const char* file, int line, const char* expr, const char* got, const char* want);
void FailInt(const char* file, int line, const char* expr, long long got, long long want);
int RunAll();

}  // namespace kws_test

#define KWS_TEST(name)                                                         \
  static void name();                                                          \
  static const bool name##_registered = kws_test::Register(#name, &name);      \
  static void name()

#define EXPECT_TRUE(cond) \
  do {                    \
    if (!(cond)) kws_test::Fail(__FILE__, __LINE__, #cond); \
  } while (0)

#define EXPECT_EQ(got, want)                                                          \
  do {                                                                                \
    const long long g_ = static_cast<long long>(got);                                 \
    const long long w_ = static_cast<long long>(want);                                \
    if (g_ != w_) kws_test::FailInt(__FILE__, __LINE__, #got, g_, w_);                \
  } while (0)

#define EXPECT_STREQ(got, want)                                                       \
  do {                                                                                \
    const char* g_ = (got);                                                           \
    const char* w_ = (want);                                                          \
    if (std::strcmp(g_, w_) != 0) kws_test::FailStr(__FILE__, __LINE__, #got, g_, w_); \
  } while (0)

#endif  // KWS_CORE_TESTS_HARNESS_H_
