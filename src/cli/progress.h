// A progress line on stderr for long jobs: items done, rates and ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace swiftkv {

class ProgressBar {
 public:
  // `total` items named `unit` (for example "requests"). On a terminal the
  // line is redrawn in place at most every 0.2 s; otherwise a line is printed
  // at most every 10 s.
  ProgressBar(int64_t total, std::string unit);

  // Records `done` items and `tokens` tokens processed so far, and redraws
  // when enough time has passed (always when done == total).
  void update(int64_t done, int64_t tokens);
  // Draws the final state unless it is already shown, and ends the line.
  void finish();

  double elapsed_seconds() const;

 private:
  void draw();

  int64_t total_;
  std::string unit_;
  bool is_terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  int64_t drawn_done_ = -1;  // done_ at the latest draw
  int64_t done_ = 0;
  int64_t tokens_ = 0;
};

// "1h02m", "3m12s" or "7s".
std::string format_duration(double seconds);

}  // namespace swiftkv
