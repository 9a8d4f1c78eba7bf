// The batched engine forward (whole prompt, chunked prompt, decode steps)
// must equal the training-mode reference forward, with SwiftKV on and off.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>

#include "core/error.h"
#include "engine/bench_checkpoint.h"
#include "formats/checkpoint.h"

#include "model/model.h"
#include "model/random_weights.h"
#include "model/reference_forward.h"
#include "numeric_util.h"
#include "test_util.h"

namespace swiftkv {
namespace {

ModelConfig tiny_swiftkv_config(int64_t group_size, bool qwen2) {
  ModelConfig config;
  config.model_type = qwen2 ? "qwen2_swiftkv" : "llama_swiftkv";
  config.hidden_size = 48;
  config.intermediate_size = 100;
  config.num_hidden_layers = 6;
  config.num_attention_heads = 6;
  config.num_key_value_heads = 2;
  config.head_dim = 8;
  config.vocab_size = 97;
  config.max_position_embeddings = 128;
  config.rms_norm_eps = 1e-5f;
  config.rope_theta = 10000.0f;
  config.attention_bias = qwen2;
  config.swiftkv = true;
  config.num_key_value_layers = 2;
  config.key_value_group_size = group_size;
  return config;
}

using testing::relative_error;

std::vector<int32_t> random_tokens(int64_t count, int64_t vocab, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (auto& token : tokens) token = static_cast<int32_t>(engine() % static_cast<uint64_t>(vocab));
  return tokens;
}

// Feeds a random prompt in chunks of `chunk` rows, then greedily decodes 5
// tokens. The logits of the last prompt position and of every decode step
// must match the reference forward.
void expect_engine_matches_reference(const ModelConfig& config, bool use_swiftkv, int64_t chunk) {
  const ModelWeights weights = random_weights(config, /*seed=*/7);
  Model model(config, weights, use_swiftkv);
  KVCache cache = model.make_cache(/*num_sequences=*/2, /*capacity=*/64);
  const int64_t V = config.vocab_size;

  std::vector<int32_t> tokens = random_tokens(21, V, /*seed=*/11);
  const int64_t prompt_length = static_cast<int64_t>(tokens.size());
  std::vector<float> logits;
  for (int64_t start = 0; start < prompt_length; start += chunk) {
    std::vector<BatchRow> rows;
    for (int64_t t = start; t < std::min(prompt_length, start + chunk); ++t) {
      rows.push_back({tokens[t], static_cast<int32_t>(t), /*seq=*/1, t == prompt_length - 1});
    }
    logits = model.forward(rows, cache);
    const bool last_chunk = start + chunk >= prompt_length;
    ASSERT_EQ(logits.size(), last_chunk ? static_cast<size_t>(V) : 0u);
  }

  for (int step = 0; step <= 5; ++step) {
    const std::vector<float> expected = reference_sequence_logits(config, weights, tokens, use_swiftkv);
    const float* expected_last = expected.data() + (tokens.size() - 1) * V;
    EXPECT_LT(relative_error(logits.data(), expected_last, V), 1e-5) << "decode step " << step;

    const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    tokens.push_back(static_cast<int32_t>(best));
    const int32_t pos = static_cast<int32_t>(tokens.size() - 1);
    logits = model.forward({{tokens.back(), pos, /*seq=*/1, true}}, cache);
  }
}

TEST(SwiftKVForward, WholePromptGroup1) {
  expect_engine_matches_reference(tiny_swiftkv_config(1, false), true, /*chunk=*/64);
}

TEST(SwiftKVForward, WholePromptGroup2) {
  expect_engine_matches_reference(tiny_swiftkv_config(2, false), true, /*chunk=*/64);
}

TEST(SwiftKVForward, ChunkedPromptGroup1) {
  expect_engine_matches_reference(tiny_swiftkv_config(1, false), true, /*chunk=*/5);
}

TEST(SwiftKVForward, ChunkedPromptGroup2) {
  expect_engine_matches_reference(tiny_swiftkv_config(2, false), true, /*chunk=*/4);
}

TEST(SwiftKVForward, Qwen2BiasesGroup2) {
  expect_engine_matches_reference(tiny_swiftkv_config(2, true), true, /*chunk=*/8);
}

TEST(SwiftKVForward, TeacherModeMatchesOrdinary) {
  expect_engine_matches_reference(tiny_swiftkv_config(2, false), false, /*chunk=*/6);
}

TEST(SwiftKVForward, NonFinalChunkRunsNoLaterLayer) {
  const ModelConfig config = tiny_swiftkv_config(2, false);
  Model model(config, random_weights(config, 3), /*use_swiftkv=*/true);
  KVCache cache = model.make_cache(1, 32);
  FlopCount flops;
  std::vector<BatchRow> rows;
  for (int32_t t = 0; t < 8; ++t) rows.push_back({t, t, 0, false});
  model.forward(rows, cache, &flops);

  // Only layers < K and the leaders' K/V projections ran: no LM head.
  const double D = 48, F = 100, q = 48, kv = 16, T = 8;
  const double layer = 2 * T * (D * q + 2 * D * kv + q * D + 3 * D * F);
  const double leaders = 2 * (2 * T * D * kv * 2);
  EXPECT_DOUBLE_EQ(flops.linear, 2 * layer + leaders);
}

// Two sequences prefilled in interleaved chunks and then decoded, through
// a contiguous cache and through a paged one with shuffled 5-position blocks.
std::vector<std::vector<float>> run_two_sequences(const Model& model, KVCache& cache) {
  const std::vector<int32_t> prompts[] = {random_tokens(23, 97, 1), random_tokens(17, 97, 2)};
  std::vector<std::vector<float>> logits;
  for (int64_t start = 0; start < 23; start += 7) {
    std::vector<BatchRow> rows;
    for (int32_t seq = 0; seq < 2; ++seq) {
      const int64_t length = static_cast<int64_t>(prompts[seq].size());
      for (int64_t t = start; t < std::min(length, start + 7); ++t) {
        rows.push_back({prompts[seq][t], static_cast<int32_t>(t), seq, t == length - 1});
      }
    }
    logits.push_back(model.forward(rows, cache));
  }
  for (int32_t step = 0; step < 4; ++step) {
    logits.push_back(model.forward({{static_cast<int32_t>(step + 3), 23 + step, 0, true},
                                    {static_cast<int32_t>(step + 9), 17 + step, 1, true}},
                                   cache));
  }
  return logits;
}

TEST(PagedKVCache, ForwardEqualsContiguous) {
  const ModelConfig config = tiny_swiftkv_config(/*group_size=*/2, /*qwen2=*/false);
  const ModelWeights weights = random_weights(config, /*seed=*/5);
  for (WeightFormat format : {WeightFormat::kF32, WeightFormat::kBF16}) {
    for (bool use_swiftkv : {false, true}) {
      SCOPED_TRACE(std::string(weight_format_name(format)) + (use_swiftkv ? " SwiftKV" : " original"));
      const Model model(config, weights, use_swiftkv, format);
      KVCache contiguous = model.make_cache(/*num_sequences=*/2, /*capacity=*/32);
      // 7 blocks of 5 positions per sequence out of 16, in shuffled order.
      KVCache paged = model.make_paged_cache(/*num_blocks=*/16, /*block_size=*/5, /*max_positions=*/32);
      std::vector<int32_t> order(16);
      std::iota(order.begin(), order.end(), 0);
      std::shuffle(order.begin(), order.end(), std::mt19937(3));
      paged.set_block_table(0, std::vector<int32_t>(order.begin(), order.begin() + 7));
      paged.set_block_table(1, std::vector<int32_t>(order.begin() + 7, order.begin() + 14));

      const std::vector<std::vector<float>> expected = run_two_sequences(model, contiguous);
      const std::vector<std::vector<float>> actual = run_two_sequences(model, paged);
      ASSERT_EQ(actual.size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        ASSERT_EQ(actual[i].size(), expected[i].size()) << "forward " << i;
        if (expected[i].empty()) continue;
        // The reference kernels read the same rows in the same order; the
        // vector kernels split their tiles at block boundaries.
        if (format == WeightFormat::kF32) {
          EXPECT_EQ(actual[i], expected[i]) << "forward " << i;
        }
        EXPECT_LT(relative_error(actual[i], expected[i]), 1e-5) << "forward " << i;
      }
    }
  }
}

TEST(PagedKVCache, PositionBeyondBlockTableThrows) {
  const ModelConfig config = tiny_swiftkv_config(2, false);
  const Model model(config, random_weights(config, 5), /*use_swiftkv=*/false);
  KVCache paged = model.make_paged_cache(4, 5, 32);
  paged.set_block_table(0, {2, 0});
  EXPECT_NO_THROW(model.forward({{1, 9, 0, true}}, paged));
  EXPECT_THROW(model.forward({{1, 10, 0, true}}, paged), Error);
}

TEST(SwiftKVCache, AcrossKVSlots) {
  const ModelConfig config = tiny_swiftkv_config(2, false);
  KVCache swiftkv_cache(config, true, 1, 16);
  KVCache teacher_cache(config, false, 1, 16);
  EXPECT_EQ(swiftkv_cache.num_slots(), 2 + (6 - 2) / 2);
  EXPECT_EQ(teacher_cache.num_slots(), 6);
  EXPECT_EQ(swiftkv_cache.slot_for_layer(2), swiftkv_cache.slot_for_layer(3));
  EXPECT_NE(swiftkv_cache.slot_for_layer(3), swiftkv_cache.slot_for_layer(4));
  EXPECT_EQ(swiftkv_cache.bytes_per_token(), 2 * 4 * 16 * 4);
}

TEST(SwiftKVForward, InterleavedSequencesMatchSeparateRuns) {
  const ModelConfig config = tiny_swiftkv_config(1, false);
  Model model(config, random_weights(config, 5), true);
  const auto a = random_tokens(9, config.vocab_size, 1);
  const auto b = random_tokens(6, config.vocab_size, 2);

  KVCache batch_cache = model.make_cache(2, 32);
  std::vector<BatchRow> rows;
  for (int32_t t = 0; t < 9; ++t) rows.push_back({a[t], t, 0, t == 8});
  for (int32_t t = 0; t < 6; ++t) rows.push_back({b[t], t, 1, t == 5});
  const std::vector<float> together = model.forward(rows, batch_cache);

  const ModelWeights& weights = model.weights();
  const auto ref_a = reference_sequence_logits(config, weights, a, true);
  const auto ref_b = reference_sequence_logits(config, weights, b, true);
  const int64_t V = config.vocab_size;
  EXPECT_LT(relative_error(together.data(), ref_a.data() + 8 * V, V), 1e-5);
  EXPECT_LT(relative_error(together.data() + V, ref_b.data() + 5 * V, V), 1e-5);
}

}  // namespace
}  // namespace swiftkv

namespace swiftkv {
namespace {

// A qwen2_swiftkv directory (q/k/v biases, SwiftKV biases) written to disk
// loads back and runs the SwiftKV path like the reference forward.
TEST(SwiftKVCheckpoint, Qwen2DirectoryLoadsAndRuns) {
  const std::string dir = testing::make_temp_dir("qwen2_swiftkv_");
  const ModelConfig config = tiny_swiftkv_config(/*group_size=*/2, /*qwen2=*/true);
  write_random_checkpoint(config, /*seed=*/3, DType::kF32, dir + "/model");

  const Checkpoint checkpoint = load_checkpoint(dir + "/model");
  EXPECT_EQ(checkpoint.config.model_type, "qwen2_swiftkv");
  EXPECT_TRUE(checkpoint.config.attention_bias);
  EXPECT_NE(checkpoint.tensors->find("model.layers.2.self_attn.k_proj_swiftkv.bias"), nullptr);
  EXPECT_EQ(checkpoint.tensors->find("model.layers.3.self_attn.k_proj_swiftkv.weight"), nullptr);
  EXPECT_NE(checkpoint.tensors->find("model.layers.3.self_attn.q_proj_swiftkv.bias"), nullptr);

  const auto model = make_model(checkpoint, /*use_swiftkv=*/true);
  const std::vector<int32_t> tokens = random_tokens(13, config.vocab_size, 4);
  KVCache cache = model->make_cache(1, 32);
  std::vector<BatchRow> rows;
  for (int32_t t = 0; t < 13; ++t) rows.push_back({tokens[t], t, 0, t == 12});
  const std::vector<float> logits = model->forward(rows, cache);
  const std::vector<float> expected = reference_sequence_logits(model->config(), model->weights(), tokens, true);
  EXPECT_LT(relative_error(logits.data(), expected.data() + 12 * config.vocab_size, config.vocab_size), 1e-5);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace swiftkv
