#include "engine/stop.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace swiftkv {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (size_t i = 0; i < stops_.size(); ++i) {
    if (stops_[i].empty()) {
      fail("invalid stop string %zu of %zu: it is empty; remove it from the stop list", i,
           stops_.size());
    }
  }
}

StopMatcher::Result StopMatcher::push(std::string_view new_text) {
  if (stopped_) return {"", true, matched_};
  pending_.append(new_text);

  // The first occurrence of a stop string is also the one that ends first.
  // Among stop strings, the winner is the match that a byte-by-byte stream
  // would complete first: the earliest end, then the earliest start.
  size_t best_start = std::string::npos;
  size_t best_end = std::string::npos;
  const std::string* best = nullptr;
  for (const std::string& stop : stops_) {
    const size_t start = pending_.find(stop);
    if (start == std::string::npos) continue;
    const size_t end = start + stop.size();
    if (best == nullptr || end < best_end || (end == best_end && start < best_start)) {
      best_start = start;
      best_end = end;
      best = &stop;
    }
  }

  Result result;
  if (best != nullptr) {
    stopped_ = true;
    matched_ = *best;
    result.emit = pending_.substr(0, best_start);
    result.stopped = true;
    result.matched = matched_;
    pending_.clear();
    return result;
  }

  const size_t emit_length = pending_.size() - held_back_length();
  result.emit = pending_.substr(0, emit_length);
  pending_.erase(0, emit_length);
  return result;
}

std::string StopMatcher::flush() {
  return std::exchange(pending_, std::string());
}

// Returns the length of the longest suffix of the pending text that is a
// proper prefix of some stop string.
size_t StopMatcher::held_back_length() const {
  const std::string_view text = pending_;
  size_t longest = 0;
  for (const std::string& stop : stops_) {
    const size_t max_length = std::min(stop.size() - 1, text.size());
    for (size_t length = max_length; length > longest; --length) {
      if (text.ends_with(std::string_view(stop).substr(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace swiftkv
