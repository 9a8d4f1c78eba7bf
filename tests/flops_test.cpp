// The prefill FLOP counter: it must equal what the forward counts from the
// shapes it runs, and agree with the closed-form SwiftKV formula.
#include <gtest/gtest.h>

#include "model/flops.h"
#include "model/random_weights.h"

namespace swiftkv {
namespace {

ModelConfig smollm2_shapes(int64_t K, int64_t G) {
  ModelConfig config;
  config.model_type = "llama_swiftkv";
  config.hidden_size = 576;
  config.intermediate_size = 1536;
  config.num_hidden_layers = 30;
  config.num_attention_heads = 9;
  config.num_key_value_heads = 3;
  config.head_dim = 64;
  config.vocab_size = 49152;
  config.max_position_embeddings = 8192;
  config.swiftkv = true;
  config.num_key_value_layers = K;
  config.key_value_group_size = G;
  return config;
}

// Per prompt token: F_layer = 2 (2 d hq dh + 2 d hkv dh + 3 d f),
// F_kv = 4 d hkv dh; base = L F_layer; swiftkv = K F_layer + (L - K) / G F_kv.
struct FormulaFlops {
  double base, swiftkv;
};

FormulaFlops formula(const ModelConfig& c) {
  const double d = static_cast<double>(c.hidden_size), hq = static_cast<double>(c.num_attention_heads);
  const double hkv = static_cast<double>(c.num_key_value_heads), dh = static_cast<double>(c.head_dim);
  const double f = static_cast<double>(c.intermediate_size);
  const double L = static_cast<double>(c.num_hidden_layers), K = static_cast<double>(c.num_key_value_layers);
  const double G = static_cast<double>(c.key_value_group_size);
  const double layer = 2 * (2 * d * hq * dh + 2 * d * hkv * dh + 3 * d * f);
  const double kv = 4 * d * hkv * dh;
  return {L * layer, K * layer + (L - K) / G * kv};
}

TEST(PrefillFlops, SmolLM2MatchesFormula) {
  for (int64_t G : {1, 3, 5}) {
    const ModelConfig config = smollm2_shapes(15, G);
    const int64_t tokens = 2048;
    const FormulaFlops expected = formula(config);
    const double on = prefill_flops(config, true, tokens).linear / tokens;
    const double off = prefill_flops(config, false, tokens).linear / tokens;
    EXPECT_NEAR(on / expected.swiftkv, 1.0, 0.01) << "G = " << G;
    EXPECT_NEAR(off / expected.base, 1.0, 0.01) << "G = " << G;
  }
}

TEST(PrefillFlops, SmolLM2SavesAboutHalf) {
  const ModelConfig config = smollm2_shapes(15, 1);
  const double on = prefill_flops(config, true, 512).linear;
  const double off = prefill_flops(config, false, 512).linear;
  EXPECT_GT(1.0 - on / off, 0.45);
  EXPECT_LT(1.0 - on / off, 0.50);
}

TEST(PrefillFlops, EqualsCountedForward) {
  ModelConfig config = smollm2_shapes(2, 2);
  config.hidden_size = 32;
  config.intermediate_size = 40;
  config.num_hidden_layers = 6;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.head_dim = 8;
  config.vocab_size = 50;
  const ModelWeights weights = random_weights(config, 1);
  for (bool use_swiftkv : {true, false}) {
    Model model(config, weights, use_swiftkv);
    KVCache cache = model.make_cache(1, 64);
    FlopCount counted;
    const int32_t length = 37;
    for (int32_t start = 0; start < length; start += 10) {
      std::vector<BatchRow> rows;
      for (int32_t t = start; t < std::min(length, start + 10); ++t) rows.push_back({t % 50, t, 0, t == length - 1});
      model.forward(rows, cache, &counted);
    }
    const FlopCount computed = prefill_flops(config, use_swiftkv, length);
    EXPECT_DOUBLE_EQ(counted.linear, computed.linear) << "SwiftKV " << use_swiftkv;
    EXPECT_DOUBLE_EQ(counted.attention, computed.attention) << "SwiftKV " << use_swiftkv;
  }
}

TEST(SwiftKVCache, SmolLM2BytesPerToken) {
  for (int64_t G : {1, 3, 5}) {
    const ModelConfig config = smollm2_shapes(15, G);
    const KVCache cache(config, /*swiftkv=*/true, 1, 1);
    const int64_t slots = 15 + (30 - 15) / G;
    EXPECT_EQ(cache.num_slots(), slots);
    EXPECT_EQ(cache.bytes_per_token(), slots * 2 * 3 * 64 * 4);
  }
}

}  // namespace
}  // namespace swiftkv
