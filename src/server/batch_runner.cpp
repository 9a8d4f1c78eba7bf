#include "server/batch_runner.h"

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A line whose requests run in the engine.
struct PendingLine {
  std::string id;
  std::string custom_id;
  Endpoint endpoint = Endpoint::kCompletions;
  ResponseHeader header;
  std::unique_ptr<ChoiceTracker> tracker;
};

// A line rejected before it reached the engine: a malformed line gets
// `error`; a valid line with an invalid body gets a response with `api_error`.
struct LineError {
  std::string code;
  std::string message;
};

class BatchRun {
 public:
  BatchRun(const GenerationFrontend& frontend, std::ostream& output, const BatchOptions& options)
      : frontend_(frontend), output_(output), options_(options), start_(Clock::now()) {}
  // Aborts the requests still running (after a write error) and waits for
  // their final events, so that no event arrives at a destroyed queue.
  ~BatchRun();

  void add_line(const std::string& text, int64_t line_number);
  // Waits for one output event, or up to a second; writes finished lines.
  void drain_one();
  bool idle() const { return pending_.empty(); }
  int64_t in_flight() const { return static_cast<int64_t>(pending_.size()); }
  const BatchProgress& progress();
  void report_progress();

 private:
  void write_result(const std::string& id, const std::string& custom_id, const json& response, const json& error);
  void finish_line(PendingLine& line);

  const GenerationFrontend& frontend_;
  std::ostream& output_;
  const BatchOptions& options_;
  Clock::time_point start_;
  OutputQueue queue_;
  std::map<RequestId, std::shared_ptr<PendingLine>> by_request_;
  std::set<std::shared_ptr<PendingLine>> pending_;
  std::set<std::string> custom_ids_;
  BatchProgress progress_;
};

Endpoint parse_url(const json& line) {
  const auto url = line.find("url");
  if (url != line.end() && *url == "/v1/completions") return Endpoint::kCompletions;
  if (url != line.end() && *url == "/v1/chat/completions") return Endpoint::kChatCompletions;
  throw LineError{"invalid_url", strprintf("'url' is %s; use \"/v1/completions\" or \"/v1/chat/completions\"",
                                           url == line.end() ? "missing" : url->dump().c_str())};
}

void check_line(const json& line) {
  if (!line.is_object()) throw LineError{"invalid_json_line", "the line is not a JSON object"};
  const auto method = line.find("method");
  if (method == line.end() || *method != "POST") {
    throw LineError{"invalid_method", strprintf("'method' is %s; use \"POST\"",
                                                method == line.end() ? "missing" : method->dump().c_str())};
  }
  const auto body = line.find("body");
  if (body == line.end() || !body->is_object()) throw LineError{"invalid_body", "'body' must be a JSON object"};
}

void BatchRun::write_result(const std::string& id, const std::string& custom_id, const json& response,
                            const json& error) {
  const json result = {{"id", id}, {"custom_id", custom_id.empty() ? json(nullptr) : json(custom_id)},
                       {"response", response}, {"error", error}};
  output_ << result.dump() << '\n';
  output_.flush();
  if (!output_) fail("writing the batch results failed; check the output path and the free disk space");
  ++progress_.num_finished;
  if (!error.is_null() || (response.is_object() && response["status_code"] != 200)) ++progress_.num_failed;
  report_progress();
}

void BatchRun::add_line(const std::string& text, int64_t line_number) {
  ++progress_.num_lines;
  const std::string id = strprintf("batch_req_%lld", static_cast<long long>(line_number));
  std::string custom_id;
  auto line = std::make_shared<PendingLine>();
  try {
    json parsed;
    try {
      parsed = json::parse(text);
    } catch (const json::parse_error& error) {
      throw LineError{"invalid_json_line", strprintf("line %lld is not valid JSON: %s",
                                                     static_cast<long long>(line_number), error.what())};
    }
    check_line(parsed);
    const auto custom = parsed.find("custom_id");
    if (custom == parsed.end() || !custom->is_string() || custom->get<std::string>().empty()) {
      throw LineError{"missing_custom_id", "'custom_id' is required and must be a non-empty string"};
    }
    custom_id = custom->get<std::string>();
    if (!custom_ids_.insert(custom_id).second) {
      throw LineError{"duplicate_custom_id", strprintf("custom_id '%s' is used by an earlier line; make every "
                                                       "custom_id unique", custom_id.c_str())};
    }
    line->endpoint = parse_url(parsed);
    line->id = id;
    line->custom_id = custom_id;
    try {
      const json& body = parsed["body"];
      if (body.value("stream", false) == true) {
        throw ApiError(400, "'stream' is not supported in a batch; remove it", "invalid_request_error", "stream");
      }
      const GenerationRequest request = frontend_.prepare(body, line->endpoint);
      const std::vector<RequestId> ids = frontend_.submit(request, queue_.callback());
      line->tracker = std::make_unique<ChoiceTracker>(frontend_.engine().tokenizer(), request, ids);
      line->header = frontend_.make_header(line->endpoint, ids.front());
      for (RequestId request_id : ids) by_request_[request_id] = line;
      pending_.insert(line);
    } catch (const ApiError& error) {
      SKV_LOG_WARN("batch", "line %lld (custom_id '%s'): %d %s", static_cast<long long>(line_number),
                   custom_id.c_str(), error.status(), error.what());
      const json response = {{"status_code", error.status()}, {"request_id", id}, {"body", error.to_json()}};
      write_result(id, custom_id, response, nullptr);
    }
  } catch (const LineError& error) {
    SKV_LOG_WARN("batch", "line %lld: %s", static_cast<long long>(line_number), error.message.c_str());
    write_result(id, custom_id, nullptr, {{"code", error.code}, {"message", error.message}});
  }
}

void BatchRun::finish_line(PendingLine& line) {
  json response;
  if (std::optional<ApiError> error = line.tracker->error()) {
    response = {{"status_code", error->status()}, {"request_id", line.header.id}, {"body", error->to_json()}};
  } else {
    response = {{"status_code", 200},
                {"request_id", line.header.id},
                {"body", completion_response(line.header, line.endpoint, line.tracker->results())}};
  }
  write_result(line.id, line.custom_id, response, nullptr);
}

void BatchRun::drain_one() {
  std::optional<RequestOutput> output = queue_.pop(std::chrono::milliseconds(1000));
  if (!output) {
    report_progress();
    return;
  }
  progress_.generated_tokens += static_cast<int64_t>(output->token_ids.size());
  const auto found = by_request_.find(output->id);
  SKV_ASSERT(found != by_request_.end());
  const std::shared_ptr<PendingLine> line = found->second;
  line->tracker->add(*output);
  if (output->finished) by_request_.erase(found);
  if (!line->tracker->finished()) return;
  finish_line(*line);
  pending_.erase(line);
}

const BatchProgress& BatchRun::progress() {
  progress_.elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  return progress_;
}

BatchRun::~BatchRun() {
  for (const auto& [id, line] : by_request_) frontend_.engine().abort(id);
  while (!by_request_.empty()) {
    std::optional<RequestOutput> output = queue_.pop(std::chrono::milliseconds(1000));
    if (output && output->finished) by_request_.erase(output->id);
  }
}

void BatchRun::report_progress() {
  if (options_.on_progress) options_.on_progress(progress());
}

}  // namespace

BatchProgress run_batch(const GenerationFrontend& frontend, std::istream& input, std::ostream& output,
                        const BatchOptions& options) {
  BatchRun run(frontend, output, options);
  std::string text;
  int64_t line_number = 0;
  while (std::getline(input, text)) {
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    while (run.in_flight() >= std::max<int64_t>(1, options.max_in_flight)) run.drain_one();
    run.add_line(text, line_number);
  }
  while (!run.idle()) run.drain_one();
  run.report_progress();
  return run.progress();
}

}  // namespace swiftkv
