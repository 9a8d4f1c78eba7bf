// `swiftkv serve`: the OpenAI-compatible HTTP server.
#include <pthread.h>
#include <signal.h>

#include <climits>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/log.h"
#include "engine/llm_engine.h"
#include "server/openai_server.h"

namespace swiftkv {
namespace {

struct ServeOptions {
  ModelOptions model;
  ServerConfig server;
  SchedulerConfig scheduler;
  CacheConfig cache;
  double shutdown_timeout = 30.0;  // seconds
};

// The model id clients name: --served-model-name, else the -m path as given
// (as vLLM does), without a trailing slash.
std::string model_name(const ServeOptions& options) {
  if (!options.server.model_name.empty()) return options.server.model_name;
  std::string path = options.model.model_path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// SIGINT and SIGTERM are blocked in every thread and taken by sigwait() in
// one thread, so shutdown runs as ordinary code instead of in a signal handler.
sigset_t shutdown_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // sent by the main thread when listen() ends on its own
  return signals;
}

void run_serve(ServeOptions& options) {
  // Block the signals before any thread starts, so every thread inherits the mask.
  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  LoadedModel loaded = load_model(options.model);
  EngineConfig engine_config;
  engine_config.scheduler = options.scheduler;
  engine_config.cache = options.cache;
  engine_config.context_size = options.model.context_size;
  LLMEngine engine(std::shared_ptr<const Model>(std::move(loaded.model)),
                   std::shared_ptr<const Tokenizer>(std::move(loaded.tokenizer)), engine_config);
  engine.start();

  options.server.model_name = model_name(options);
  OpenAIServer server(engine, options.server);
  server.bind();

  const auto deadline = std::chrono::milliseconds(static_cast<int64_t>(options.shutdown_timeout * 1000.0));
  std::thread signal_thread([&server, signals, deadline] {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal != SIGUSR1) SKV_LOG_INFO("server", "received %s", signal == SIGINT ? "SIGINT" : "SIGTERM");
    server.shutdown(deadline);
  });
  server.listen();
  pthread_kill(signal_thread.native_handle(), SIGUSR1);  // no effect once the thread has returned
  signal_thread.join();
}


}  // namespace

void add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
  add_model_options(*command, options->model);
  command->add_option("--host", options->server.host, "Address to listen on")->capture_default_str();
  command->add_option("--port", options->server.port, "TCP port to listen on; 0 picks a free port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  command->add_option("--api-key", options->server.api_key,
                      "Require this key as 'Authorization: Bearer KEY' on every route but /health");
  command->add_option("--served-model-name", options->server.model_name,
                      "Model id in /v1/models and in requests (default: the -m path)");
  add_scheduler_options(*command, options->scheduler, "Requests running at once; more requests wait");
  add_cache_options(*command, options->cache);
  command->add_option("--shutdown-timeout", options->shutdown_timeout,
                      "Seconds in-flight requests get to finish after SIGINT or SIGTERM before they are aborted")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  command->callback([options]() { run_serve(*options); });
}

}  // namespace swiftkv
