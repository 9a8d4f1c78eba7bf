#include "core/error.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace swiftkv {

std::string vstrprintf(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  const int size = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (size <= 0) return std::string();
  std::vector<char> buffer(static_cast<size_t>(size) + 1);
  std::vsnprintf(buffer.data(), buffer.size(), fmt, args);
  return std::string(buffer.data(), static_cast<size_t>(size));
}

std::string strprintf(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string text = vstrprintf(fmt, args);
  va_end(args);
  return text;
}

void fail(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string text = vstrprintf(fmt, args);
  va_end(args);
  throw Error(text);
}

void assert_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "internal error: assertion '%s' failed at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace swiftkv
