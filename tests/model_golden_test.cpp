// End-to-end logits against Hugging Face transformers (goldens from
// scripts/reference/): SmolLM2-135M-Instruct from its GGUF, the tiny random
// llama_swiftkv checkpoints, and SmolLM2 converted to SwiftKV with K = 15.
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/checkpoint.h"
#include "golden_util.h"
#include "model/model.h"
#include "model/reference_forward.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace swiftkv {
namespace {

using testing::argmax;
using testing::read_json_file;
using testing::read_logits_block;
using testing::relative_error;

std::string golden_dir() { return std::string(SWIFTKV_SOURCE_DIR) + "/tests/golden"; }

// Greedy steps whose reference top-2 logit margin is below this are near-ties
// that float32 rounding may flip; the comparison stops at the first one.
constexpr double kNearTieMargin = 1e-3;

// Prefills `prompt` in chunks of `chunk` rows and returns the last logits.
std::vector<float> prefill(const Model& model, KVCache& cache, const std::vector<int32_t>& prompt, size_t chunk) {
  std::vector<float> logits;
  for (size_t start = 0; start < prompt.size(); start += chunk) {
    std::vector<BatchRow> rows;
    for (size_t t = start; t < std::min(prompt.size(), start + chunk); ++t) {
      rows.push_back({prompt[t], static_cast<int32_t>(t), 0, t + 1 == prompt.size()});
    }
    logits = model.forward(rows, cache);
  }
  return logits;
}

// Greedy-decodes from `logits` (of the last prompt row) and checks each token against
// `expected` until the first near-tie.
void expect_greedy(const Model& model, KVCache& cache, size_t prompt_length, std::vector<float> logits,
                   const nlohmann::json& expected, const nlohmann::json& margins, const std::string& name) {
  for (size_t step = 0; step < expected.size(); ++step) {
    if (margins[step].get<double>() < kNearTieMargin) break;
    const int32_t token = argmax(logits);
    ASSERT_EQ(token, expected[step].get<int32_t>()) << name << " greedy step " << step;
    logits = model.forward({{token, static_cast<int32_t>(prompt_length + step), 0, true}}, cache);
  }
}

TEST(SmolLM2Golden, LogitsAndGreedyMatchTransformers) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const std::string dir = golden_dir() + "/smollm2";
  const nlohmann::json index = read_json_file(dir + "/prompts.json");
  const Checkpoint checkpoint = load_checkpoint(testing::smollm2_gguf());
  const auto model = make_model(checkpoint, /*use_swiftkv=*/false);
  const auto tokenizer = make_tokenizer(checkpoint.vocab);

  for (const auto& prompt : index.at("prompts")) {
    const std::string name = prompt.at("name").get<std::string>();
    const auto ids = prompt.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tokenizer->encode(prompt.at("text").get<std::string>(), false), ids) << name;

    KVCache cache = model->make_cache(1, static_cast<int64_t>(ids.size()) + 64);
    const std::vector<float> logits = prefill(*model, cache, ids, 256);
    const std::vector<float> expected = read_logits_block(dir + "/logits.f32", prompt.at("last_logits"));
    ASSERT_EQ(logits.size(), expected.size()) << name;
    EXPECT_LT(relative_error(logits.data(), expected.data(), static_cast<int64_t>(expected.size())), 1e-4) << name;
    expect_greedy(*model, cache, ids.size(), logits, prompt.at("greedy_ids"), prompt.at("greedy_top2_margins"), name);
  }
}

// Every position of the reference forward, and the engine's last position for
// a whole and a chunked prompt, SwiftKV on and off.
void check_tiny_swiftkv(const std::string& name) {
  const std::string dir = golden_dir() + "/swiftkv";
  const nlohmann::json index = read_json_file(dir + "/" + name + ".json");
  const std::string logits_file = dir + "/" + index.at("logits_file").get<std::string>();
  const Checkpoint checkpoint = load_checkpoint(dir + "/" + name);
  ASSERT_TRUE(checkpoint.config.swiftkv);

  for (bool use_swiftkv : {true, false}) {
    const auto model = make_model(checkpoint, use_swiftkv);
    const std::string key = use_swiftkv ? "swiftkv" : "original";
    const int64_t V = checkpoint.config.vocab_size;
    for (const auto& prompt : index.at("prompts")) {
      const auto ids = prompt.at("ids").get<std::vector<int32_t>>();
      const std::string label = name + " " + key + " prompt of " + std::to_string(ids.size());
      const std::vector<float> expected = read_logits_block(logits_file, prompt.at(key + "_logits"));
      const std::vector<float> all = reference_sequence_logits(model->config(), model->weights(), ids, use_swiftkv);
      ASSERT_EQ(all.size(), expected.size()) << label;
      EXPECT_LT(relative_error(all.data(), expected.data(), static_cast<int64_t>(all.size())), 1e-4) << label;

      const float* expected_last = expected.data() + (ids.size() - 1) * V;
      for (size_t chunk : {ids.size(), size_t{4}}) {
        KVCache cache = model->make_cache(1, static_cast<int64_t>(ids.size()) + 16);
        const std::vector<float> logits = prefill(*model, cache, ids, chunk);
        EXPECT_LT(relative_error(logits.data(), expected_last, V), 1e-4) << label << " chunk " << chunk;
        if (chunk == ids.size()) {
          expect_greedy(*model, cache, ids.size(), logits, prompt.at(key + "_greedy_ids"),
                        prompt.at(key + "_greedy_top2_margins"), label);
        }
      }
    }
  }
}

TEST(SwiftKVGolden, TinyGroupSize1) { check_tiny_swiftkv("tiny_g1"); }

TEST(SwiftKVGolden, TinyGroupSize2Llama3Rope) { check_tiny_swiftkv("tiny_g2"); }

TEST(SwiftKVGolden, SmolLM2ConvertedK15) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  const std::string dir = golden_dir() + "/swiftkv";
  const nlohmann::json index = read_json_file(dir + "/smollm2_k15.json");
  const std::string out = testing::make_temp_dir("smollm2_k15_");
  const auto converted = testing::run_swiftkv("convert " + testing::quote(testing::smollm2_gguf()) + " " +
                                              testing::quote(out) + " --swiftkv --num-key-value-layers 15");
  ASSERT_EQ(converted.exit_code, 0) << converted.err;

  const Checkpoint checkpoint = load_checkpoint(out);
  const auto swiftkv_model = make_model(checkpoint, /*use_swiftkv=*/true);
  const auto teacher = make_model(checkpoint, /*use_swiftkv=*/false);
  const Checkpoint original_checkpoint = load_checkpoint(testing::smollm2_gguf());
  const auto original = make_model(original_checkpoint, /*use_swiftkv=*/false);

  for (const auto& prompt : index.at("prompts")) {
    const std::string name = prompt.at("name").get<std::string>();
    const auto ids = prompt.at("ids").get<std::vector<int32_t>>();
    KVCache cache = swiftkv_model->make_cache(1, static_cast<int64_t>(ids.size()) + 64);
    const std::vector<float> logits = prefill(*swiftkv_model, cache, ids, 64);
    const std::vector<float> expected =
        read_logits_block(dir + "/" + index.at("logits_file").get<std::string>(), prompt.at("swiftkv_last_logits"));
    EXPECT_LT(relative_error(logits.data(), expected.data(), static_cast<int64_t>(expected.size())), 1e-4) << name;
    if (prompt.contains("swiftkv_greedy_ids")) {
      expect_greedy(*swiftkv_model, cache, ids.size(), logits, prompt.at("swiftkv_greedy_ids"),
                    prompt.at("swiftkv_greedy_top2_margins"), name);
    }

    // With SwiftKV off the converted checkpoint is exactly its original.
    KVCache teacher_cache = teacher->make_cache(1, static_cast<int64_t>(ids.size()));
    KVCache original_cache = original->make_cache(1, static_cast<int64_t>(ids.size()));
    EXPECT_EQ(prefill(*teacher, teacher_cache, ids, 64), prefill(*original, original_cache, ids, 64)) << name;
  }
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace swiftkv

namespace swiftkv {
namespace {

// The fast path: logits within the format's rounding of the float32
// reference, and greedy tokens identical up to the first step whose
// reference top-2 margin is within that measured error (a near-tie the
// rounding may flip).
void expect_fast_path_within_bound(WeightFormat format) {
  const std::string dir = golden_dir() + "/smollm2";
  const nlohmann::json index = read_json_file(dir + "/prompts.json");
  const Checkpoint checkpoint = load_checkpoint(testing::smollm2_gguf());
  const auto model = make_model(checkpoint, /*use_swiftkv=*/false, format);

  for (const auto& prompt : index.at("prompts")) {
    const std::string name = prompt.at("name").get<std::string>();
    const auto ids = prompt.at("ids").get<std::vector<int32_t>>();
    KVCache cache = model->make_cache(1, static_cast<int64_t>(ids.size()) + 64);
    std::vector<float> logits = prefill(*model, cache, ids, 256);
    const std::vector<float> expected = read_logits_block(dir + "/logits.f32", prompt.at("last_logits"));
    ASSERT_EQ(logits.size(), expected.size()) << name;
    const double error = relative_error(logits.data(), expected.data(), static_cast<int64_t>(expected.size()));
    EXPECT_LT(error, 3e-2) << name << " " << weight_format_name(format);

    // Twice the largest logit error seen at the prompt bounds a flip.
    double max_error = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) max_error = std::max(max_error, std::abs(double(logits[i]) - expected[i]));
    const double tie_bound = 2.0 * max_error;
    const auto& greedy = prompt.at("greedy_ids");
    const auto& margins = prompt.at("greedy_top2_margins");
    size_t compared = 0;
    for (size_t step = 0; step < greedy.size(); ++step) {
      if (margins[step].get<double>() < tie_bound) break;
      const int32_t token = argmax(logits);
      ASSERT_EQ(token, greedy[step].get<int32_t>()) << name << " step " << step << " bound " << tie_bound;
      logits = model->forward({{token, static_cast<int32_t>(ids.size() + step), 0, true}}, cache);
      ++compared;
    }
    std::printf("%s, %s weights: logit error max %.4f, greedy tokens compared %zu of %zu\n", name.c_str(),
                weight_format_name(format), max_error, compared, greedy.size());
  }
}

TEST(SmolLM2Golden, FastPathWithinBf16Bound) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  expect_fast_path_within_bound(WeightFormat::kBF16);
}

// The default: int8 for the Q4_1/Q8_0 tensors when decoding, oneDNN on their
// bf16 copies for the prompt.
TEST(SmolLM2Golden, DefaultWeightsWithinBound) {
  if (!testing::file_exists(testing::smollm2_gguf())) GTEST_SKIP() << "run scripts/fetch_model.sh first";
  expect_fast_path_within_bound(WeightFormat::kAuto);
}

}  // namespace
}  // namespace swiftkv
