#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace swiftkv {
namespace {

constexpr double kTerminalInterval = 0.2;  // seconds between redraws on a terminal
constexpr double kLogInterval = 10.0;      // seconds between lines in a log file
constexpr int kBarWidth = 24;

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (s >= 3600) return strprintf("%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60));
  if (s >= 60) return strprintf("%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return strprintf("%llds", static_cast<long long>(s));
}

ProgressBar::ProgressBar(int64_t total, std::string unit)
    : total_(total),
      unit_(std::move(unit)),
      is_terminal_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double ProgressBar::elapsed_seconds() const { return seconds_between(start_, std::chrono::steady_clock::now()); }

void ProgressBar::update(int64_t done, int64_t tokens) {
  done_ = done;
  tokens_ = tokens;
  const double since_draw = seconds_between(last_draw_, std::chrono::steady_clock::now());
  if (done == total_ || since_draw >= (is_terminal_ ? kTerminalInterval : kLogInterval)) draw();
}

void ProgressBar::finish() {
  if (drawn_done_ != done_) draw();
  if (is_terminal_) std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw() {
  last_draw_ = std::chrono::steady_clock::now();
  const double elapsed = std::max(seconds_between(start_, last_draw_), 1e-9);
  const double fraction = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  const std::string bar = std::string(static_cast<size_t>(filled), '=') +
                          std::string(static_cast<size_t>(kBarWidth - filled), ' ');
  const double rate = static_cast<double>(done_) / elapsed;
  const std::string eta = done_ > 0 ? format_duration(static_cast<double>(total_ - done_) / rate) : "?";
  std::fprintf(stderr, "%s[%s] %lld/%lld %s | %.2f %s/s | %.1f tokens/s | elapsed %s | ETA %s%s",
               is_terminal_ ? "\r" : "", bar.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
               unit_.c_str(), rate, unit_.c_str(), static_cast<double>(tokens_) / elapsed,
               format_duration(elapsed).c_str(), eta.c_str(), is_terminal_ ? "\033[K" : "\n");
  std::fflush(stderr);
  drawn_done_ = done_;
}

}  // namespace swiftkv
