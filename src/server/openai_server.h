// The OpenAI-compatible HTTP server in front of an LLMEngine:
// POST /v1/completions, POST /v1/chat/completions (both with `stream: true`
// as Server-Sent Events), GET /v1/models, GET /health, GET /metrics
// (Prometheus text format), vLLM's POST /tokenize and POST /detokenize, and
// POST /v1/complete with the semantics of Snowflake Cortex's COMPLETE.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/llm_engine.h"
#include "server/generation.h"
#include "server/openai_protocol.h"
#include "tokenizer/chat_template.h"

namespace httplib {
class DataSink;
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace swiftkv {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;           // 0 picks a free port
  std::string api_key;       // required as "Authorization: Bearer KEY" when set
  std::string model_name;    // the id in /v1/models that requests must name
  int num_http_threads = 0;  // 0 sizes the pool from max_num_seqs
  // Connections the kernel completes and queues before the server accepts
  // them. Linux caps it at net.core.somaxconn.
  int listen_backlog = 1024;
};

class OpenAIServer {
 public:
  // `engine` must be started and outlive the server.
  OpenAIServer(LLMEngine& engine, ServerConfig config);
  ~OpenAIServer();
  OpenAIServer(const OpenAIServer&) = delete;
  OpenAIServer& operator=(const OpenAIServer&) = delete;

  // Binds the listening socket and returns its port. Throws Error when the
  // address cannot be bound.
  int bind();
  // Serves until shutdown(); returns once every in-flight handler finished.
  void listen();
  // Stops accepting connections and rejects new requests on open
  // connections with 503. Then shuts the engine down, which gives in-flight
  // requests up to `deadline` to finish and aborts the rest.
  void shutdown(std::chrono::milliseconds deadline);
  // True from listen() until the server stops.
  bool is_running() const;
  // The accept queue limit the kernel applies to the listening socket (read
  // back with TCP_INFO); -1 before bind().
  int listen_backlog() const;

 private:
  struct ActiveRequest;

  void register_routes();
  bool authorized(const httplib::Request& http_request, httplib::Response& response) const;

  void handle_generation(const httplib::Request& http_request, httplib::Response& response, Endpoint endpoint);
  void respond_when_finished(const std::shared_ptr<ActiveRequest>& active, httplib::Response& response);
  void start_stream(const std::shared_ptr<ActiveRequest>& active, httplib::Response& response);
  static bool write_stream_event(ActiveRequest& active, httplib::DataSink& sink, const RequestOutput& output);
  void handle_complete(const httplib::Request& http_request, httplib::Response& response);
  void handle_models(httplib::Response& response) const;
  void handle_tokenize(const httplib::Request& http_request, httplib::Response& response) const;
  void handle_detokenize(const httplib::Request& http_request, httplib::Response& response) const;

  LLMEngine& engine_;
  ServerConfig config_;
  std::unique_ptr<httplib::Server> http_;
  GenerationFrontend frontend_;
  int64_t created_ = 0;                          // Unix time the server started
  int listen_socket_ = -1;                       // set by bind()
  std::atomic<bool> stopping_{false};
};

}  // namespace swiftkv
