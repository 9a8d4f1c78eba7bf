// Subcommands of the `swiftkv` executable. Each add_* function registers a
// subcommand and its options on `app`; the callback runs it.
#pragma once

#include <CLI/CLI.hpp>

namespace swiftkv {

void add_generate_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_init_random_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_distill_command(CLI::App& app);
void add_batch_command(CLI::App& app);
void add_gen_data_command(CLI::App& app);
void add_eval_command(CLI::App& app);

}  // namespace swiftkv
