// The part of the OpenAI endpoints between a request body and the engine,
// shared by the HTTP server and the batch command: parsing and tokenizing a
// request, submitting its n choices, and collecting their output events into
// OpenAI's response objects.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "server/openai_logprobs.h"
#include "server/openai_protocol.h"
#include "tokenizer/chat_template.h"

namespace swiftkv {

class GenerationFrontend {
 public:
  // `engine` must outlive the frontend. `model_name` is the id requests must name.
  GenerationFrontend(LLMEngine& engine, std::string model_name);
  ~GenerationFrontend();

  LLMEngine& engine() const { return engine_; }
  const std::string& model_name() const { return model_name_; }

  // Throws ApiError (404) unless `model` is "" or the served model's name.
  void check_model(const std::string& model) const;
  // Renders `messages` with the model's chat template. Throws ApiError (400)
  // when the model has no template or the template rejects the messages.
  std::string render_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // Returns the prompt token ids of a parsed request.
  std::vector<int32_t> tokenize_prompt(const GenerationRequest& parsed) const;
  // Fills request.prompt_tokens and draws a random seed when the request sets none.
  void tokenize_and_seed(GenerationRequest& parsed) const;
  // Parses `body`, checks the model and calls tokenize_and_seed. Throws ApiError.
  GenerationRequest prepare(const nlohmann::json& body, Endpoint endpoint) const;

  // Submits the n choices of `parsed` as engine requests whose events go to
  // `callback`, and returns their ids in choice order. Choice i uses seed
  // seed + i, as vLLM's parallel sampling does, so a seeded request with
  // n > 1 still gets different choices. If one submission fails, the ones
  // already submitted are aborted and ApiError is thrown.
  std::vector<RequestId> submit(const GenerationRequest& parsed, const OutputCallback& callback) const;
  void abort(const std::vector<RequestId>& ids) const;
  // Submits `parsed` and waits until every choice finished. Throws ApiError
  // when a choice was aborted or failed.
  std::vector<ChoiceResult> generate(const GenerationRequest& parsed) const;

  bool has_chat_template() const { return chat_template_ != nullptr; }

  // The response id "cmpl-…" or "chatcmpl-…" of a request whose first choice
  // is engine request `first`, and the current Unix time.
  ResponseHeader make_header(Endpoint endpoint, RequestId first) const;

 private:
  RequestId submit_one(Request request) const;

  LLMEngine& engine_;
  std::string model_name_;
  std::unique_ptr<ChatTemplate> chat_template_;  // null when the model has none or it failed to parse
  std::string chat_template_error_;              // why chat_template_ is null
  std::string id_prefix_;                        // random, so response ids differ across restarts
};

// Tracks the choices of one request: which choice an output event belongs
// to, their text and logprobs so far, and whether all finished.
class ChoiceTracker {
 public:
  // `ids` are the engine request ids in choice order.
  ChoiceTracker(const Tokenizer& tokenizer, const GenerationRequest& parsed, std::vector<RequestId> ids);

  struct Update {
    int index = 0;          // choice index of the event
    nlohmann::json logprobs;  // logprobs object of the event's tokens, or null when not requested
  };
  // Records one output event of one of the choices.
  Update add(const RequestOutput& output);

  bool finished() const { return num_finished_ == results_.size(); }
  const std::vector<ChoiceResult>& results() const { return results_; }
  nlohmann::json usage() const { return choices_usage_json(results_); }
  // The error of the first choice that was aborted or failed, if any.
  std::optional<ApiError> error() const;

 private:
  std::vector<RequestId> ids_;
  std::vector<ChoiceResult> results_;
  std::vector<LogprobsFormatter> formatters_;
  bool wants_logprobs_ = false;
  size_t num_finished_ = 0;
};

// The error sent for a choice that ended with `output` (aborted or failed).
ApiError finish_error(const RequestOutput& output);

}  // namespace swiftkv
