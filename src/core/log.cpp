#include "core/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace swiftkv {
namespace {

LogLevel level_from_env() {
  const char* value = std::getenv("SWIFTKV_LOG_LEVEL");
  if (value == nullptr) return LogLevel::kInfo;
  if (std::strcmp(value, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(value, "warn") == 0) return LogLevel::kWarn;
  if (std::strcmp(value, "error") == 0) return LogLevel::kError;
  if (std::strcmp(value, "off") == 0) return LogLevel::kOff;
  return LogLevel::kInfo;
}

std::atomic<int>& current_level() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "D";
    case LogLevel::kInfo: return "I";
    case LogLevel::kWarn: return "W";
    case LogLevel::kError: return "E";
    default: return "?";
  }
}

}  // namespace

void set_log_level(LogLevel level) { current_level() = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(current_level().load()); }

void log_message(LogLevel level, const char* component, const char* fmt, ...) {
  if (static_cast<int>(level) < current_level().load()) return;
  static std::mutex mutex;
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm parts;
  localtime_r(&now, &parts);
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &parts);
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "%s %s %s: ", stamp, level_name(level), component);
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
}

}  // namespace swiftkv
