// Line-by-line reading of JSONL data files whose invalid lines are reported
// and skipped rather than stopping the read.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace swiftkv {

// Parses one line's JSON value. Returns the reason the line is invalid, or
// nullopt after taking the line (`line_number` is 1-based).
using JsonlLineParser = std::function<std::optional<std::string>(const nlohmann::json& line, int64_t line_number)>;

// Reads `path` (`what` names its kind in the error, e.g. "task file"):
// blank lines are ignored, and each other line goes to `parse_line`. Lines
// that are not JSON, or that `parse_line` rejects, are appended to `skipped`
// as "path:line: reason" and logged, the first 20 one by one. Throws Error
// when the file cannot be opened.
void read_jsonl(const std::string& path, const std::string& what, const JsonlLineParser& parse_line,
                std::vector<std::string>& skipped);

// The message of a JSON parse error with non-printable bytes replaced, so
// invalid UTF-8 does not reach the terminal.
std::string describe_json_error(const nlohmann::json::parse_error& error);

}  // namespace swiftkv
