// The `swiftkv` command line: generate, chat, convert, init-random, bench, serve, batch.
// The `swiftkv` command line: generate, chat, convert, init-random, bench, serve,
// gen-data, eval.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"swiftkv: Llama-family inference with SwiftKV prefill"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every subcommand");
  swiftkv::add_generate_command(app);
  swiftkv::add_chat_command(app);
  swiftkv::add_convert_command(app);
  swiftkv::add_init_random_command(app);
  swiftkv::add_bench_command(app);
  swiftkv::add_serve_command(app);
  swiftkv::add_distill_command(app);
  swiftkv::add_batch_command(app);
  swiftkv::add_gen_data_command(app);
  swiftkv::add_eval_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "error: %s; run 'swiftkv --help' or 'swiftkv SUBCOMMAND --help' for the options\n",
                 error.what());
    return 1;
  } catch (const swiftkv::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory; use a smaller model or a smaller --ctx-size\n");
    return 1;
  }
  return 0;
}
