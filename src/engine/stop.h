// Stop strings for streamed text: finds them across chunk boundaries and
// withholds text that could still become one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace swiftkv {

// Matches stop strings in text that arrives in chunks. Text is emitted as soon
// as it can no longer be part of a stop string. A suffix that is the start of
// a stop string is held back until later text decides it. The result does not
// depend on how the text is split into chunks.
class StopMatcher {
 public:
  // Throws Error if a stop string is empty. An empty list never stops.
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    std::string emit;     // text safe to send to the client
    bool stopped = false;  // true once a stop string was found
    std::string matched;   // the stop string found, when stopped
  };

  // Appends `new_text`. When a stop string appears, emits the text before it
  // and drops the stop string and everything after it. Where two stop strings
  // match, the one that ends first wins, and then the one that starts first.
  // After a stop, every push returns the same stop with nothing to emit.
  Result push(std::string_view new_text);

  // Returns the held-back text at the end of generation, when it can no
  // longer become a stop string. Returns "" after a stop.
  std::string flush();

  bool stopped() const { return stopped_; }

 private:
  size_t held_back_length() const;

  std::vector<std::string> stops_;
  std::string pending_;  // text received but not emitted yet
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace swiftkv
