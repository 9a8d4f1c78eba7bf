#include "train/jsonl_reader.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {

namespace {

constexpr size_t kMaxLoggedSkips = 20;

}  // namespace

std::string describe_json_error(const nlohmann::json::parse_error& error) {
  std::string message = error.what();
  for (char& c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return "invalid JSON: " + message;
}

void read_jsonl(const std::string& path, const std::string& what, const JsonlLineParser& parse_line,
                std::vector<std::string>& skipped) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open %s '%s'; check the path", what.c_str(), path.c_str());
  std::string text;
  int64_t line_number = 0;
  while (std::getline(in, text)) {
    ++line_number;
    if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) continue;
    std::optional<std::string> reason;
    try {
      reason = parse_line(nlohmann::json::parse(text), line_number);
    } catch (const nlohmann::json::parse_error& error) {
      reason = describe_json_error(error);
    }
    if (!reason) continue;
    skipped.push_back(strprintf("%s:%lld: %s", path.c_str(), static_cast<long long>(line_number), reason->c_str()));
    if (skipped.size() <= kMaxLoggedSkips) SKV_LOG_WARN("data", "skipped %s", skipped.back().c_str());
  }
}

}  // namespace swiftkv
