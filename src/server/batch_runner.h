// Runs an OpenAI batch input file through one engine: each line is
// {"custom_id", "method": "POST", "url": "/v1/completions" or
// "/v1/chat/completions", "body"}, and each result line is
// {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"},
// written as soon as its request finishes. A bad line gets its own error
// result while the other lines still run.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>

#include "server/generation.h"

namespace swiftkv {

struct BatchProgress {
  int64_t num_lines = 0;      // non-empty input lines
  int64_t num_finished = 0;   // result lines written
  int64_t num_failed = 0;     // results with an error or a status other than 200
  int64_t generated_tokens = 0;
  double elapsed = 0.0;       // seconds since the run began
};

struct BatchOptions {
  // Requests kept in the engine at once; the rest of the file waits unparsed
  // so memory does not grow with the file size.
  int64_t max_in_flight = 64;
  // Called after every result and at least every second while requests run.
  std::function<void(const BatchProgress&)> on_progress;
};

// Reads every line of `input`, writes one result line per non-empty input
// line to `output`, and returns the final counts. Throws Error when the
// output cannot be written.
BatchProgress run_batch(const GenerationFrontend& frontend, std::istream& input, std::ostream& output,
                        const BatchOptions& options);

}  // namespace swiftkv
