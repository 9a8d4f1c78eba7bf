// init-random and bench: random checkpoints load back with their config, and
// `swiftkv bench --json` writes one JSON document with every expected key.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/bench.h"
#include "engine/bench_checkpoint.h"
#include "formats/checkpoint.h"
#include "model/model.h"
#include "model/random_weights.h"
#include "test_util.h"

namespace swiftkv {
namespace {

using testing::quote;
using testing::run_swiftkv;

// Tiny Llama shapes: 4 layers, hidden 32, 4/2 heads of 8, vocab 64.
nlohmann::json tiny_config_json(bool swiftkv) {
  nlohmann::json json = {{"model_type", swiftkv ? "llama_swiftkv" : "llama"},
                         {"hidden_size", 32},
                         {"intermediate_size", 48},
                         {"num_hidden_layers", 4},
                         {"num_attention_heads", 4},
                         {"num_key_value_heads", 2},
                         {"head_dim", 8},
                         {"vocab_size", 64},
                         {"max_position_embeddings", 256},
                         {"rms_norm_eps", 1e-5},
                         {"rope_theta", 10000.0},
                         {"tie_word_embeddings", true},
                         {"bos_token_id", 1},
                         {"eos_token_id", 2}};
  if (swiftkv) {
    json["swiftkv"] = true;
    json["num_key_value_layers"] = 2;
    json["key_value_group_size"] = 2;
  }
  return json;
}

ModelConfig tiny_config(bool swiftkv) { return parse_model_config(tiny_config_json(swiftkv), "tiny config"); }

std::string write_config_file(const std::string& dir, bool swiftkv) {
  const std::string path = dir + "/config-in.json";
  std::ofstream(path) << tiny_config_json(swiftkv).dump(2);
  return path;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(InitRandom, LlamaRoundTrip) {
  const std::string dir = testing::make_temp_dir("init_random_");
  write_random_checkpoint(tiny_config(false), /*seed=*/7, DType::kBF16, dir + "/model");

  const Checkpoint checkpoint = load_checkpoint(dir + "/model");
  EXPECT_EQ(checkpoint.config.model_type, "llama");
  EXPECT_EQ(checkpoint.config.num_hidden_layers, 4);
  EXPECT_EQ(checkpoint.config.hidden_size, 32);
  EXPECT_EQ(checkpoint.config.num_key_value_heads, 2);
  EXPECT_EQ(checkpoint.config.vocab_size, 64);
  EXPECT_TRUE(checkpoint.config.tie_word_embeddings);
  EXPECT_FALSE(checkpoint.config.swiftkv);
  EXPECT_EQ(checkpoint.config.bos_token_id, 1);
  EXPECT_EQ(checkpoint.tensors->get("model.layers.3.mlp.down_proj.weight").dtype, DType::kBF16);
  EXPECT_EQ(checkpoint.tensors->find("lm_head.weight"), nullptr);
  EXPECT_TRUE(std::filesystem::exists(dir + "/model/generation_config.json"));
  EXPECT_NO_THROW(make_model(checkpoint, /*use_swiftkv=*/false));
  std::filesystem::remove_all(dir);
}

TEST(InitRandom, SwiftKVRoundTrip) {
  const std::string dir = testing::make_temp_dir("init_random_");
  write_random_checkpoint(tiny_config(true), /*seed=*/7, DType::kF32, dir + "/model");

  const Checkpoint checkpoint = load_checkpoint(dir + "/model");
  EXPECT_EQ(checkpoint.config.model_type, "llama_swiftkv");
  EXPECT_TRUE(checkpoint.config.swiftkv);
  EXPECT_EQ(checkpoint.config.num_key_value_layers, 2);
  EXPECT_EQ(checkpoint.config.key_value_group_size, 2);
  EXPECT_EQ(checkpoint.tensors->get("model.norm_swiftkv.weight").dtype, DType::kF32);
  EXPECT_NE(checkpoint.tensors->find("model.layers.3.self_attn.q_proj_swiftkv.weight"), nullptr);
  // Layer 2 leads the group {2, 3}, so only it has k/v_proj_swiftkv.
  EXPECT_NE(checkpoint.tensors->find("model.layers.2.self_attn.k_proj_swiftkv.weight"), nullptr);
  EXPECT_EQ(checkpoint.tensors->find("model.layers.3.self_attn.k_proj_swiftkv.weight"), nullptr);
  EXPECT_NO_THROW(make_model(checkpoint, /*use_swiftkv=*/true));
  std::filesystem::remove_all(dir);
}

TEST(InitRandom, CommandWritesLoadableDirectory) {
  const std::string dir = testing::make_temp_dir("init_random_");
  const std::string config_path = write_config_file(dir, /*swiftkv=*/true);
  const auto result = run_swiftkv("init-random --config " + quote(config_path) + " " + quote(dir + "/model") +
                                  " --seed 3 --dtype bf16");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Checkpoint checkpoint = load_checkpoint(dir + "/model");
  EXPECT_EQ(checkpoint.config.num_key_value_layers, 2);
  EXPECT_EQ(checkpoint.tensors->get("model.embed_tokens.weight").dtype, DType::kBF16);
  std::filesystem::remove_all(dir);
}

TEST(InitRandom, CommandRejectsBadDtype) {
  const std::string dir = testing::make_temp_dir("init_random_");
  const std::string config_path = write_config_file(dir, /*swiftkv=*/false);
  const auto result = run_swiftkv("init-random --config " + quote(config_path) + " " + quote(dir + "/model") +
                                  " --dtype f16");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--dtype 'f16'"), std::string::npos) << result.err;
  std::filesystem::remove_all(dir);
}

// Intermediate size 64 keeps every K a multiple of the 32-wide packing
// block, so packed sizes are exact multiples of the weight counts.
std::unique_ptr<Model> tiny_model(bool swiftkv, bool use_swiftkv, WeightFormat format, DType source) {
  ModelConfig config = tiny_config(swiftkv);
  config.intermediate_size = 64;
  ModelWeights weights = random_weights(config, 5);
  for (LayerWeights& layer : weights.layers) {
    for (Weight* weight : {&layer.q_proj, &layer.k_proj, &layer.v_proj, &layer.o_proj, &layer.gate_proj,
                           &layer.up_proj, &layer.down_proj, &layer.q_proj_swiftkv, &layer.k_proj_swiftkv,
                           &layer.v_proj_swiftkv}) {
      weight->source_dtype = source;
    }
  }
  weights.embed_tokens.source_dtype = source;
  return std::make_unique<Model>(config, std::move(weights), use_swiftkv, format);
}

TEST(DecodeWeightBytes, CountsSwiftKVLeadersOnly) {
  const double D = 32, F = 64, q = 32, kv = 16, V = 64;
  const double per_layer = 2 * q * D + 3 * D * F;
  // Off: every layer's k/v. On: layers 0-1 and the leader of {2, 3}.
  const double off = V * D + 4 * per_layer + 4 * 2 * kv * D;
  const double on = V * D + 4 * per_layer + 3 * 2 * kv * D;
  const auto bytes = [](bool use_swiftkv, WeightFormat format, DType source) {
    return static_cast<double>(tiny_model(true, use_swiftkv, format, source)->decode_weight_bytes());
  };
  EXPECT_DOUBLE_EQ(bytes(false, WeightFormat::kF32, DType::kF32), 4 * off);
  EXPECT_DOUBLE_EQ(bytes(true, WeightFormat::kBF16, DType::kF32), 2 * on);
  EXPECT_DOUBLE_EQ(bytes(true, WeightFormat::kInt8, DType::kF32), 1.125 * on);
  EXPECT_DOUBLE_EQ(bytes(true, WeightFormat::kQ4, DType::kF32), 0.75 * on);
  // auto: q4 for Q4_0/Q4_1 tensors, int8 for Q8_0, bf16 for float ones.
  EXPECT_DOUBLE_EQ(bytes(true, WeightFormat::kAuto, DType::kQ4_1), 0.75 * on);
  EXPECT_DOUBLE_EQ(bytes(false, WeightFormat::kAuto, DType::kQ8_0), 1.125 * off);
  EXPECT_DOUBLE_EQ(bytes(true, WeightFormat::kAuto, DType::kBF16), 2 * on);
}

// tiny_model has 4 layers of 7 linear layers plus the LM head.
TEST(ModelWeightFormats, SummaryAndRequantizedCounts) {
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kAuto, DType::kQ4_1)->layer_format_summary(), "29 q4");
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kAuto, DType::kQ4_1)->requantized_layers(), 0);
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kAuto, DType::kF16)->layer_format_summary(), "29 bf16");
  // q4 represents Q4_0 and Q4_1 blocks exactly, and int8 Q8_0 blocks. Any
  // other pairing re-quantizes.
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kQ4, DType::kQ8_0)->requantized_layers(), 29);
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kInt8, DType::kF32)->requantized_layers(), 29);
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kInt8, DType::kQ4_1)->requantized_layers(), 29);
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kQ4, DType::kQ4_0)->requantized_layers(), 0);
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kInt8, DType::kQ8_0)->requantized_layers(), 0);
  EXPECT_EQ(tiny_model(false, false, WeightFormat::kBF16, DType::kF32)->requantized_layers(), 0);
}

// A process spinning on one core shows up in the busy share.
TEST(BusyCpuShare, SeesAnotherThreadSpinning) {
  std::atomic<bool> stop{false};
  std::thread spinner([&] {
    while (!stop.load()) {
    }
  });
  const double busy = busy_cpu_share(0.3);
  stop = true;
  spinner.join();
  // One busy core of N is at least 1/N of all CPU time.
  EXPECT_GE(busy, 0.9 / std::thread::hardware_concurrency());
  EXPECT_LE(busy, 1.0);
}

// From 8 rows at the amx level a quantized layer runs oneDNN on its bf16 copy,
// so a step of 8 rows reads 2 bytes per weight.
TEST(DecodeWeightBytes, QuantizedManyRowsReadBf16Copy) {
  if (active_cpu_level() < CpuLevel::kAmx) GTEST_SKIP() << "the row threshold measured here is amx's";
  const auto model = tiny_model(false, false, WeightFormat::kQ4, DType::kF32);
  EXPECT_EQ(model->decode_weight_bytes(7), model->decode_weight_bytes(1));
  EXPECT_EQ(model->decode_weight_bytes(8), model->decode_weight_bytes(1) / 3 * 8);
}

// Small enough for a test: two prompt lengths, two batch sizes, one context.
const char* kTinyBenchFlags =
    " --prompt-lengths 8,16 --prefill-batch-sizes 1,2 --batch-sizes 1,2 --contexts 8 --decode-steps 2"
    " --repeat 1 --warmup 0 --ceiling-matmul-size 64 --weights f32 -t 1";

TEST(BenchCommand, JsonHasExpectedKeys) {
  const std::string dir = testing::make_temp_dir("bench_");
  write_random_checkpoint(tiny_config(true), /*seed=*/1, DType::kF32, dir + "/model");
  const auto result = run_swiftkv("bench -m " + quote(dir + "/model") + kTinyBenchFlags +
                                  " --swiftkv-compare --json " + quote(dir + "/out.json") + " --chart " +
                                  quote(dir + "/out.svg"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("SwiftKV prefill speedup"), std::string::npos) << result.out;

  const nlohmann::json json = nlohmann::json::parse(read_text(dir + "/out.json"), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << read_text(dir + "/out.json");
  for (const char* key : {"model", "config", "weights", "machine", "settings", "ceilings", "prefill",
                          "swiftkv_prefill_ratios", "decode"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_EQ(json["weights"], "f32");
  EXPECT_GE(json["ceilings"]["bf16_matmul_flops_per_s"].get<double>(), 0.0);
  EXPECT_GT(json["ceilings"]["memory_read_bytes_per_s"].get<double>(), 0.0);
  const double busy = json["machine"]["busy_cpu_share_before"].get<double>();
  EXPECT_GE(busy, 0.0);
  EXPECT_LE(busy, 1.0);

  // SwiftKV on and off x 2 prompt lengths x 2 batch sizes.
  ASSERT_EQ(json["prefill"].size(), 8u);
  for (const auto& row : json["prefill"]) {
    for (const char* key : {"swiftkv", "prompt_length", "batch", "seconds", "tokens_per_s", "flops", "mfu"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    EXPECT_GT(row["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(row["flops"].get<double>(), 0.0);
  }
  ASSERT_EQ(json["swiftkv_prefill_ratios"].size(), 4u);
  for (const auto& row : json["swiftkv_prefill_ratios"]) {
    EXPECT_GT(row["flop_ratio_bound"].get<double>(), 1.0);
    EXPECT_GT(row["speedup"].get<double>(), 0.0);
    EXPECT_TRUE(row.contains("share_of_bound"));
  }
  // SwiftKV on and off x 1 context x 2 batch sizes.
  ASSERT_EQ(json["decode"].size(), 4u);
  for (const auto& row : json["decode"]) {
    for (const char* key : {"context", "batch", "step_seconds", "tokens_per_s", "weight_bytes_per_step",
                            "kv_bytes_per_step", "weight_bandwidth_utilisation", "total_bandwidth_utilisation"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    EXPECT_GT(row["tokens_per_s"].get<double>(), 0.0);
  }

  const std::string svg = read_text(dir + "/out.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("Decode tokens/s"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(BenchCommand, CompareNeedsSwiftKVCheckpoint) {
  const std::string dir = testing::make_temp_dir("bench_");
  write_random_checkpoint(tiny_config(false), /*seed=*/1, DType::kF32, dir + "/model");
  const auto result = run_swiftkv("bench -m " + quote(dir + "/model") + kTinyBenchFlags + " --swiftkv-compare");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("swiftkv convert"), std::string::npos) << result.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace swiftkv
