// Leveled logging to stderr. The level comes from SWIFTKV_LOG_LEVEL
// (debug, info, warn, error; default info) or set_log_level().
#pragma once

namespace swiftkv {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const char* component, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace swiftkv

#define SKV_LOG_DEBUG(component, ...) ::swiftkv::log_message(::swiftkv::LogLevel::kDebug, component, __VA_ARGS__)
#define SKV_LOG_INFO(component, ...) ::swiftkv::log_message(::swiftkv::LogLevel::kInfo, component, __VA_ARGS__)
#define SKV_LOG_WARN(component, ...) ::swiftkv::log_message(::swiftkv::LogLevel::kWarn, component, __VA_ARGS__)
#define SKV_LOG_ERROR(component, ...) ::swiftkv::log_message(::swiftkv::LogLevel::kError, component, __VA_ARGS__)
