#include "server/generation.h"

#include <algorithm>
#include <ctime>
#include <random>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {
namespace {

using nlohmann::json;

std::string random_hex(size_t digits) {
  std::random_device device;
  std::mt19937_64 engine((static_cast<uint64_t>(device()) << 32) ^ device());
  const char* hex = "0123456789abcdef";
  std::string text;
  for (size_t i = 0; i < digits; ++i) text += hex[engine() % 16];
  return text;
}

uint64_t random_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

GenerationFrontend::GenerationFrontend(LLMEngine& engine, std::string model_name)
    : engine_(engine), model_name_(std::move(model_name)), id_prefix_(random_hex(8)) {
  const std::string& source = engine_.tokenizer().chat_template();
  if (source.empty()) {
    chat_template_error_ = "this model has no chat template; use /v1/completions";
    return;
  }
  try {
    chat_template_ = std::make_unique<ChatTemplate>(source);
  } catch (const Error& error) {
    chat_template_error_ = strprintf("the model's chat template failed to parse: %s", error.what());
    SKV_LOG_WARN("server", "%s; chat requests are disabled", chat_template_error_.c_str());
  }
}

GenerationFrontend::~GenerationFrontend() = default;

void GenerationFrontend::check_model(const std::string& model) const {
  if (model.empty() || model == model_name_) return;
  throw ApiError(404, strprintf("the model '%s' does not exist; this server serves '%s'", model.c_str(),
                                model_name_.c_str()), "invalid_request_error", "model", "model_not_found");
}

std::string GenerationFrontend::render_chat(const std::vector<ChatMessage>& messages,
                                            bool add_generation_prompt) const {
  if (!chat_template_) throw ApiError(400, chat_template_error_, "invalid_request_error", "messages");
  const Tokenizer& tokenizer = engine_.tokenizer();
  ChatTemplateInputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = add_generation_prompt;
  if (tokenizer.bos_id() >= 0) inputs.bos_token = tokenizer.token_text(tokenizer.bos_id());
  if (tokenizer.eos_id() >= 0) inputs.eos_token = tokenizer.token_text(tokenizer.eos_id());
  try {
    return chat_template_->render(inputs);
  } catch (const Error& error) {
    // raise_exception() in a template reports an invalid conversation.
    throw ApiError(400, strprintf("the chat template rejected the messages: %s", error.what()),
                   "invalid_request_error", "messages");
  }
}

std::vector<int32_t> GenerationFrontend::tokenize_prompt(const GenerationRequest& parsed) const {
  if (parsed.endpoint == Endpoint::kChatCompletions) {
    // The template writes the special tokens (BOS included) itself.
    return engine_.tokenizer().encode(render_chat(parsed.messages, parsed.add_generation_prompt),
                                      /*add_special=*/false);
  }
  if (parsed.prompt_text) return engine_.tokenizer().encode(*parsed.prompt_text, /*add_special=*/true);
  return parsed.prompt_tokens;
}

void GenerationFrontend::tokenize_and_seed(GenerationRequest& parsed) const {
  parsed.request.prompt_tokens = tokenize_prompt(parsed);
  if (!parsed.seed_given) parsed.request.sampling.seed = random_seed();
}

GenerationRequest GenerationFrontend::prepare(const json& body, Endpoint endpoint) const {
  GenerationRequest parsed = parse_generation_request(body, endpoint);
  check_model(parsed.model);
  tokenize_and_seed(parsed);
  return parsed;
}

RequestId GenerationFrontend::submit_one(Request request) const {
  try {
    return engine_.add_request(std::move(request));
  } catch (const ContextLengthError& error) {
    throw ApiError(400, error.what(), "invalid_request_error", "", "context_length_exceeded");
  } catch (const EngineUnavailableError& error) {
    throw ApiError(503, error.what(), "server_error");
  } catch (const Error& error) {
    throw ApiError(400, error.what());
  }
}

std::vector<RequestId> GenerationFrontend::submit(const GenerationRequest& parsed,
                                                  const OutputCallback& callback) const {
  std::vector<RequestId> ids;
  for (int i = 0; i < parsed.n; ++i) {
    Request request = parsed.request;
    request.sampling.seed += static_cast<uint64_t>(i);
    request.on_output = callback;
    try {
      ids.push_back(submit_one(std::move(request)));
    } catch (const ApiError&) {
      abort(ids);
      throw;
    }
  }
  return ids;
}

void GenerationFrontend::abort(const std::vector<RequestId>& ids) const {
  for (RequestId id : ids) engine_.abort(id);
}

std::vector<ChoiceResult> GenerationFrontend::generate(const GenerationRequest& parsed) const {
  OutputQueue queue;
  ChoiceTracker tracker(engine_.tokenizer(), parsed, submit(parsed, queue.callback()));
  while (!tracker.finished()) {
    if (std::optional<RequestOutput> output = queue.pop(std::chrono::milliseconds(1000))) tracker.add(*output);
  }
  if (std::optional<ApiError> error = tracker.error()) throw *error;
  return tracker.results();
}

ResponseHeader GenerationFrontend::make_header(Endpoint endpoint, RequestId first) const {
  const char* kind = endpoint == Endpoint::kCompletions ? "cmpl" : "chatcmpl";
  return {strprintf("%s-%s-%llu", kind, id_prefix_.c_str(), static_cast<unsigned long long>(first)), model_name_,
          static_cast<int64_t>(std::time(nullptr))};
}

ChoiceTracker::ChoiceTracker(const Tokenizer& tokenizer, const GenerationRequest& parsed, std::vector<RequestId> ids)
    : ids_(std::move(ids)), results_(ids_.size()), wants_logprobs_(parsed.request.logprobs >= 0) {
  for (size_t i = 0; i < ids_.size(); ++i) {
    formatters_.emplace_back(tokenizer, parsed.endpoint, std::max(0, parsed.request.logprobs));
  }
}

ChoiceTracker::Update ChoiceTracker::add(const RequestOutput& output) {
  const auto found = std::find(ids_.begin(), ids_.end(), output.id);
  SKV_ASSERT(found != ids_.end());
  Update update;
  update.index = static_cast<int>(found - ids_.begin());
  ChoiceResult& result = results_[static_cast<size_t>(update.index)];
  result.text += output.text;
  if (wants_logprobs_) {
    update.logprobs = formatters_[static_cast<size_t>(update.index)].format(output.logprobs);
    LogprobsFormatter::append(result.logprobs, update.logprobs);
  }
  if (output.finished) {
    result.final_output = output;
    ++num_finished_;
  }
  return update;
}

std::optional<ApiError> ChoiceTracker::error() const {
  for (const ChoiceResult& result : results_) {
    const FinishReason reason = result.final_output.finish_reason;
    if (reason == FinishReason::kAbort || reason == FinishReason::kError) return finish_error(result.final_output);
  }
  return std::nullopt;
}

ApiError finish_error(const RequestOutput& output) {
  if (output.finish_reason == FinishReason::kAbort) {
    return ApiError(503, "the request was aborted because the server is shutting down", "server_error");
  }
  return ApiError(500, strprintf("generation failed: %s", output.error.c_str()), "server_error");
}

}  // namespace swiftkv
