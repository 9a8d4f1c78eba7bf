// Errors a user can cause (bad file, bad flag, bad request) and internal checks.
#pragma once

#include <cstdarg>
#include <stdexcept>
#include <string>

namespace swiftkv {

// An error caused by input: the message names the value and the fix.
// The command line prints it as one line and exits non-zero.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// printf-style formatting into a std::string (g++ 12 has no std::format).
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vstrprintf(const char* fmt, va_list args);

// Throws Error with a printf-style message.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace swiftkv

// Internal invariant check that stays on in release builds. Use it for cheap
// checks of the program's own logic, never for user input.
#define SKV_ASSERT(cond)                                                      \
  do {                                                                        \
    if (!(cond)) ::swiftkv::assert_failed(#cond, __FILE__, __LINE__);         \
  } while (0)

namespace swiftkv {
[[noreturn]] void assert_failed(const char* expr, const char* file, int line);
}
