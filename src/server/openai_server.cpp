#include "server/openai_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "core/error.h"
#include "core/log.h"
#include "server/cortex_complete.h"

namespace swiftkv {
namespace {

using nlohmann::json;

// How long a streaming handler waits for output before it writes an SSE
// comment line. Only a failed write reveals a closed client connection.
constexpr std::chrono::milliseconds kStreamPollInterval(1000);

void send_json(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& response, const ApiError& error) {
  send_json(response, error.status(), error.to_json());
}

// Runs `handler`, turning the exceptions it throws into OpenAI error JSON.
template <typename Handler>
httplib::Server::Handler with_errors(Handler handler) {
  return [handler](const httplib::Request& request, httplib::Response& response) {
    try {
      handler(request, response);
    } catch (const ApiError& error) {
      if (error.status() >= 500) {
        SKV_LOG_ERROR("server", "%s %s: %d %s", request.method.c_str(), request.path.c_str(), error.status(), error.what());
      } else {
        SKV_LOG_INFO("server", "%s %s: %d %s", request.method.c_str(), request.path.c_str(), error.status(), error.what());
      }
      send_error(response, error);
    } catch (const std::exception& error) {
      SKV_LOG_ERROR("server", "%s %s failed: %s", request.method.c_str(), request.path.c_str(), error.what());
      send_error(response, ApiError(500, strprintf("internal error: %s", error.what()), "server_error"));
    }
  };
}

// Compares without stopping at the first difference, so the time taken
// does not reveal how much of a guessed key is right.
bool equal_in_constant_time(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

bool write_event(httplib::DataSink& sink, const std::string& data) {
  const std::string event = "data: " + data + "\n\n";
  return sink.write(event.data(), event.size());
}

}  // namespace

// A request in flight: the events of its choices from the engine and the
// response header.
struct OpenAIServer::ActiveRequest {
  OutputQueue queue;
  std::vector<RequestId> ids;  // engine requests, one per choice
  std::unique_ptr<ChoiceTracker> tracker;
  Endpoint endpoint = Endpoint::kCompletions;
  ResponseHeader header;
  bool include_usage = false;
  bool sent_role_chunks = false;
  std::atomic<bool> finished{false};
};

OpenAIServer::OpenAIServer(LLMEngine& engine, ServerConfig config)
    : engine_(engine),
      config_(std::move(config)),
      http_(std::make_unique<httplib::Server>()),
      frontend_(engine_, config_.model_name) {
  created_ = static_cast<int64_t>(std::time(nullptr));

  // Streaming requests hold a handler thread until they finish, so the pool
  // has room for every running and some waiting requests.
  const int threads = config_.num_http_threads > 0
                          ? config_.num_http_threads
                          : static_cast<int>(std::max<int64_t>(8, 2 * engine_.config().scheduler.max_num_seqs + 4));
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // httplib passes the listening socket here before binding it, so bind()
  // can raise its backlog after httplib has called listen().
  http_->set_socket_options([this](int sock) {
    httplib::default_socket_options(sock);
    listen_socket_ = sock;
  });
  register_routes();
}

OpenAIServer::~OpenAIServer() = default;

void OpenAIServer::register_routes() {
  http_->set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    return authorized(request, response) ? httplib::Server::HandlerResponse::Unhandled
                                         : httplib::Server::HandlerResponse::Handled;
  });
  http_->set_error_handler([](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    const std::string message = response.status == 404
                                    ? strprintf("no route for %s %s", request.method.c_str(), request.path.c_str())
                                    : strprintf("HTTP error %d", response.status);
    send_error(response, ApiError(response.status, message, "invalid_request_error", "",
                                  response.status == 404 ? "not_found" : ""));
  });

  http_->Post("/v1/completions", with_errors([this](const httplib::Request& request, httplib::Response& response) {
                handle_generation(request, response, Endpoint::kCompletions);
              }));
  http_->Post("/v1/chat/completions",
              with_errors([this](const httplib::Request& request, httplib::Response& response) {
                handle_generation(request, response, Endpoint::kChatCompletions);
              }));
  http_->Post("/v1/complete", with_errors([this](const httplib::Request& request, httplib::Response& response) {
                handle_complete(request, response);
              }));
  http_->Get("/v1/models", with_errors([this](const httplib::Request&, httplib::Response& response) {
               handle_models(response);
             }));
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    response.status = stopping_ ? 503 : 200;
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(engine_.metrics().render_prometheus(config_.model_name), "text/plain; version=0.0.4");
  });
  http_->Post("/tokenize", with_errors([this](const httplib::Request& request, httplib::Response& response) {
                handle_tokenize(request, response);
              }));
  http_->Post("/detokenize", with_errors([this](const httplib::Request& request, httplib::Response& response) {
                handle_detokenize(request, response);
              }));
}

// Checks the API key on every route but /health and /metrics. vLLM checks
// the key only on /v1 routes and leaves /metrics open for Prometheus
// scrapers, so /metrics is open here too. It shows counts and latencies,
// never prompts or outputs.
bool OpenAIServer::authorized(const httplib::Request& http_request, httplib::Response& response) const {
  if (config_.api_key.empty() || http_request.path == "/health" || http_request.path == "/metrics") return true;
  const std::string header = http_request.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (header.empty()) {
    send_error(response, ApiError(401, "missing API key; pass it in the header 'Authorization: Bearer KEY'",
                                  "invalid_request_error", "", "invalid_api_key"));
    return false;
  }
  if (header.compare(0, prefix.size(), prefix) != 0 ||
      !equal_in_constant_time(header.substr(prefix.size()), config_.api_key)) {
    send_error(response, ApiError(401, "incorrect API key provided", "invalid_request_error", "", "invalid_api_key"));
    return false;
  }
  return true;
}

// Debian's compiled httplib 0.11.4 listens with a backlog of 5
// (CPPHTTPLIB_LISTEN_BACKLOG is fixed when the library is built). A burst of
// 32 streaming clients overflowed that queue, and with SYN cookies on some of
// them got "connection reset by peer". Linux lets listen() be called again on
// the bound socket to raise the backlog.
int OpenAIServer::bind() {
  const int port = config_.port == 0 ? http_->bind_to_any_port(config_.host)
                                     : (http_->bind_to_port(config_.host, config_.port) ? config_.port : -1);
  if (port < 0) {
    fail("cannot listen on %s:%d; check that the address is local and the port is free, or pass --port 0",
         config_.host.c_str(), config_.port);
  }
  SKV_ASSERT(listen_socket_ >= 0);
  if (::listen(listen_socket_, config_.listen_backlog) != 0) {
    fail("failed to raise the listen backlog of %s:%d to %d: %s", config_.host.c_str(), port,
         config_.listen_backlog, std::strerror(errno));
  }
  SKV_LOG_INFO("server", "listening on http://%s:%d, model '%s'", config_.host.c_str(), port,
               config_.model_name.c_str());
  return port;
}

void OpenAIServer::listen() { http_->listen_after_bind(); }

bool OpenAIServer::is_running() const { return http_->is_running(); }

int OpenAIServer::listen_backlog() const {
  if (listen_socket_ < 0) return -1;
  // For a listening socket Linux reports the accept queue limit in tcpi_sacked.
  tcp_info info{};
  socklen_t size = sizeof(info);
  if (getsockopt(listen_socket_, IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return -1;
  return static_cast<int>(info.tcpi_sacked);
}

void OpenAIServer::shutdown(std::chrono::milliseconds deadline) {
  if (stopping_.exchange(true)) return;
  SKV_LOG_INFO("server", "shutting down: closed for new connections, finishing in-flight requests");
  http_->stop();  // closes the listening socket
  listen_socket_ = -1;
  engine_.shutdown(deadline);
  SKV_LOG_INFO("server", "stopped");
}

void OpenAIServer::handle_generation(const httplib::Request& http_request, httplib::Response& response,
                                     Endpoint endpoint) {
  if (stopping_) throw ApiError(503, "the server is shutting down", "server_error");
  const GenerationRequest parsed = frontend_.prepare(parse_json_body(http_request.body), endpoint);

  auto active = std::make_shared<ActiveRequest>();
  active->endpoint = endpoint;
  active->include_usage = parsed.include_usage;
  active->ids = frontend_.submit(parsed, [active](const RequestOutput& output) { active->queue.push(output); });
  active->tracker = std::make_unique<ChoiceTracker>(engine_.tokenizer(), parsed, active->ids);
  active->header = frontend_.make_header(endpoint, active->ids.front());
  SKV_LOG_DEBUG("server", "%s is engine requests %llu to %llu", active->header.id.c_str(),
                static_cast<unsigned long long>(active->ids.front()),
                static_cast<unsigned long long>(active->ids.back()));

  if (parsed.stream) {
    start_stream(active, response);
  } else {
    respond_when_finished(active, response);
  }
}

// NOTE: a client that disconnects from a non-streaming request is not
// noticed, so its request runs to the end. httplib 0.11 offers no way to
// watch the socket while the handler waits.
void OpenAIServer::respond_when_finished(const std::shared_ptr<ActiveRequest>& active, httplib::Response& response) {
  while (!active->tracker->finished()) {
    std::optional<RequestOutput> output = active->queue.pop(kStreamPollInterval);
    if (output) active->tracker->add(*output);
  }
  active->finished = true;
  if (std::optional<ApiError> error = active->tracker->error()) throw *error;
  send_json(response, 200, completion_response(active->header, active->endpoint, active->tracker->results()));
}

// Writes the SSE events of one output event; returns false when the client is gone.
bool OpenAIServer::write_stream_event(ActiveRequest& active, httplib::DataSink& sink, const RequestOutput& output) {
  const ChoiceTracker::Update update = active.tracker->add(output);
  if (output.finish_reason == FinishReason::kAbort || output.finish_reason == FinishReason::kError) {
    return write_event(sink, finish_error(output).to_json().dump());
  }
  const bool has_logprobs = !update.logprobs.is_null() && !output.logprobs.empty();
  if (output.text.empty() && !has_logprobs && !output.finished) return true;
  const std::string reason = output.finished ? finish_reason_name(output.finish_reason) : "";
  return write_event(sink, stream_chunk(active.header, active.endpoint, update.index, output.text, update.logprobs,
                                        reason, false).dump());
}

void OpenAIServer::start_stream(const std::shared_ptr<ActiveRequest>& active, httplib::Response& response) {
  response.set_header("Cache-Control", "no-cache");
  auto provider = [this, active](size_t /*offset*/, httplib::DataSink& sink) {
    if (!active->sent_role_chunks && active->endpoint == Endpoint::kChatCompletions) {
      // As OpenAI does, the first chunk of each chat choice carries the role and no text.
      active->sent_role_chunks = true;
      for (size_t i = 0; i < active->ids.size(); ++i) {
        const json chunk = stream_chunk(active->header, active->endpoint, static_cast<int>(i), "", nullptr, "", true);
        if (!write_event(sink, chunk.dump())) return false;
      }
      return true;
    }
    std::optional<RequestOutput> output = active->queue.pop(kStreamPollInterval);
    if (!output) {
      static const std::string ping = ": waiting\n\n";  // an SSE comment, ignored by clients
      return sink.write(ping.data(), ping.size());
    }
    if (!write_stream_event(*active, sink, *output)) return false;
    if (!active->tracker->finished()) return true;
    if (active->include_usage &&
        !write_event(sink, usage_chunk(active->header, active->endpoint, active->tracker->usage()).dump())) {
      return false;
    }
    active->finished = true;
    if (!write_event(sink, "[DONE]")) return false;
    sink.done();
    return true;
  };
  // Called when the stream ends; an unfinished request means the client left.
  auto release = [this, active](bool /*success*/) {
    if (active->finished) return;
    SKV_LOG_INFO("server", "client of %s disconnected; aborting the request", active->header.id.c_str());
    frontend_.abort(active->ids);
  };
  response.set_chunked_content_provider("text/event-stream", provider, release);
}

// Cortex COMPLETE: a string prompt is one user message, rendered with the
// chat template; a model without a template gets the string as plain text.
void OpenAIServer::handle_complete(const httplib::Request& http_request, httplib::Response& response) {
  if (stopping_) throw ApiError(503, "the server is shutting down", "server_error");
  CompleteRequest complete = parse_complete_request(parse_json_body(http_request.body));
  frontend_.check_model(complete.model);
  GenerationRequest& parsed = complete.generation;
  if (!complete.history && !frontend_.has_chat_template()) parsed.endpoint = Endpoint::kCompletions;
  frontend_.tokenize_and_seed(parsed);
  if (parsed.request.max_tokens == -1) {
    const int64_t room = engine_.context_size() - static_cast<int64_t>(parsed.request.prompt_tokens.size());
    parsed.request.max_tokens = std::clamp<int64_t>(room, 1, kCortexDefaultMaxTokens);
  }
  const std::vector<ChoiceResult> results = frontend_.generate(parsed);
  send_json(response, 200, complete_response(complete, config_.model_name, static_cast<int64_t>(std::time(nullptr)),
                                             results.front()));
}

void OpenAIServer::handle_models(httplib::Response& response) const {
  const json model = {{"id", config_.model_name},          {"object", "model"},
                      {"created", created_},               {"owned_by", "swiftkv"},
                      {"root", config_.model_name},        {"max_model_len", engine_.context_size()}};
  send_json(response, 200, {{"object", "list"}, {"data", json::array({model})}});
}

// vLLM's /tokenize: {"prompt": text} or {"messages": [...]}, returning
// {"count", "max_model_len", "tokens"}.
void OpenAIServer::handle_tokenize(const httplib::Request& http_request, httplib::Response& response) const {
  const json body = parse_json_body(http_request.body);
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) throw ApiError(400, "invalid type for 'model': expected a string", "invalid_request_error", "model");
    frontend_.check_model(body["model"].get<std::string>());
  }
  std::vector<int32_t> tokens;
  if (body.contains("messages")) {
    json chat = {{"messages", body["messages"]}};
    if (body.contains("add_generation_prompt")) chat["add_generation_prompt"] = body["add_generation_prompt"];
    const GenerationRequest parsed = parse_generation_request(chat, Endpoint::kChatCompletions);
    const bool add_special = body.value("add_special_tokens", false);
    tokens = engine_.tokenizer().encode(frontend_.render_chat(parsed.messages, parsed.add_generation_prompt), add_special);
  } else if (body.contains("prompt")) {
    if (!body["prompt"].is_string()) throw ApiError(400, "invalid type for 'prompt': expected a string", "invalid_request_error", "prompt");
    if (body.contains("add_special_tokens") && !body["add_special_tokens"].is_boolean()) {
      throw ApiError(400, "invalid type for 'add_special_tokens': expected a boolean", "invalid_request_error",
                     "add_special_tokens");
    }
    tokens = engine_.tokenizer().encode(body["prompt"].get<std::string>(), body.value("add_special_tokens", true));
  } else {
    throw ApiError(400, "'prompt' or 'messages' is required", "invalid_request_error", "prompt");
  }
  send_json(response, 200,
            {{"count", tokens.size()}, {"max_model_len", engine_.context_size()}, {"tokens", tokens}});
}

// vLLM's /detokenize: {"tokens": [...]} returning {"prompt": text}.
void OpenAIServer::handle_detokenize(const httplib::Request& http_request, httplib::Response& response) const {
  const json body = parse_json_body(http_request.body);
  if (!body.is_object()) throw ApiError(400, "the request body must be a JSON object");
  if (!body.contains("tokens")) throw ApiError(400, "'tokens' is required", "invalid_request_error", "tokens");
  const json& tokens = body["tokens"];
  if (!tokens.is_array()) throw ApiError(400, "invalid type for 'tokens': expected an array of token ids", "invalid_request_error", "tokens");
  const int32_t V = engine_.tokenizer().vocab_size();
  std::vector<int32_t> ids;
  for (const json& token : tokens) {
    if (!token.is_number_integer() || token.get<int64_t>() < 0 || token.get<int64_t>() >= V) {
      throw ApiError(400, strprintf("invalid token id %s in 'tokens'; expected integers in [0, %d)",
                                    token.dump().c_str(), V), "invalid_request_error", "tokens");
    }
    ids.push_back(static_cast<int32_t>(token.get<int64_t>()));
  }
  send_json(response, 200, {{"prompt", engine_.tokenizer().decode(ids, /*skip_special=*/false)}});
}

}  // namespace swiftkv
