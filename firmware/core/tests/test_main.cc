#include "harness.h"

int main() { return kws_test::RunAll() == 0 ? 0 : 1; }
