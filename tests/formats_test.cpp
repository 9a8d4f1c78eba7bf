// Tests of the formats layer on real model files and on round trips.
#include <cmath>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/llama2c.h"
#include "formats/model_config.h"
#include "formats/safetensors.h"
#include "formats/weight_names.h"
#include "formats_test_util.h"

namespace swiftkv {
namespace {

using testing::smollm2_gguf;
using testing::stories_dir;
using testing::TempDir;

Checkpoint load_stories_bin() {
  return load_checkpoint(stories_dir() + "/stories260K.bin", stories_dir() + "/tok512.bin");
}

Checkpoint load_stories_gguf() { return load_checkpoint(stories_dir() + "/stories260Ktok512.gguf"); }

void expect_stories_shape(const ModelConfig& config) {
  EXPECT_EQ(config.model_type, "llama");
  EXPECT_EQ(config.hidden_size, 64);
  EXPECT_EQ(config.intermediate_size, 172);
  EXPECT_EQ(config.num_hidden_layers, 5);
  EXPECT_EQ(config.num_attention_heads, 8);
  EXPECT_EQ(config.num_key_value_heads, 4);
  EXPECT_EQ(config.head_dim, 8);
  EXPECT_EQ(config.vocab_size, 512);
  EXPECT_FLOAT_EQ(config.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(config.rope_theta, 10000.0f);
  EXPECT_FALSE(config.swiftkv);
  EXPECT_FALSE(config.attention_bias);
}

TEST(Llama2c, StoriesConfig) {
  const Checkpoint checkpoint = load_stories_bin();
  EXPECT_EQ(checkpoint.format, CheckpointFormat::kLlama2c);
  expect_stories_shape(checkpoint.config);
  EXPECT_TRUE(checkpoint.config.tie_word_embeddings);
  EXPECT_EQ(checkpoint.config.max_position_embeddings, 512);
  EXPECT_EQ(checkpoint.config.bos_token_id, 1);
  EXPECT_EQ(checkpoint.config.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(checkpoint.tensors->names().size(), 47u);
}

TEST(Llama2c, TokenizerTable) {
  const VocabSpec vocab = read_llama2c_tokenizer(stories_dir() + "/tok512.bin", 512);
  ASSERT_EQ(vocab.tokens.size(), 512u);
  ASSERT_EQ(vocab.scores.size(), 512u);
  ASSERT_EQ(vocab.token_types.size(), 512u);
  EXPECT_EQ(vocab.model, "llama");
  EXPECT_EQ(vocab.tokens[0], "<unk>");
  // The file stores BOS and EOS with surrounding newlines, which are kept.
  EXPECT_EQ(vocab.tokens[1], "\n<s>\n");
  EXPECT_EQ(vocab.tokens[2], "\n</s>\n");
  EXPECT_EQ(vocab.tokens[3], "<0x00>");
  EXPECT_EQ(vocab.tokens[258], "<0xFF>");
  EXPECT_EQ(vocab.token_types[0], TokenType::kUnknown);
  EXPECT_EQ(vocab.token_types[1], TokenType::kControl);
  EXPECT_EQ(vocab.token_types[2], TokenType::kControl);
  for (int id = 3; id <= 258; ++id) EXPECT_EQ(vocab.token_types[id], TokenType::kByte) << "id " << id;
  EXPECT_EQ(vocab.token_types[259], TokenType::kNormal);
  EXPECT_EQ(vocab.bos_id, 1);
  EXPECT_EQ(vocab.eos_id, 2);
  EXPECT_EQ(vocab.unk_id, 0);
  EXPECT_TRUE(vocab.add_bos);
  EXPECT_TRUE(vocab.add_space_prefix);
}

TEST(Gguf, StoriesConfig) {
  const Checkpoint checkpoint = load_stories_gguf();
  EXPECT_EQ(checkpoint.format, CheckpointFormat::kGguf);
  expect_stories_shape(checkpoint.config);
  // The GGUF stores the shared classifier again as output.weight, so it loads untied.
  EXPECT_FALSE(checkpoint.config.tie_word_embeddings);
  EXPECT_EQ(checkpoint.config.max_position_embeddings, 128);
  EXPECT_EQ(checkpoint.config.bos_token_id, 1);
  ASSERT_FALSE(checkpoint.config.eos_token_ids.empty());
  EXPECT_EQ(checkpoint.config.eos_token_ids[0], 2);
}

TEST(Gguf, StoriesTensorsMatchLlama2c) {
  const Checkpoint bin = load_stories_bin();
  const Checkpoint gguf = load_stories_gguf();
  std::vector<std::string> names = bin.tensors->names();
  std::vector<std::string> gguf_names = gguf.tensors->names();
  EXPECT_EQ(gguf_names.size(), 48u);
  std::erase(gguf_names, "lm_head.weight");
  EXPECT_EQ(names, gguf_names);
  const std::vector<int64_t> embedding_shape = {512, 64};
  EXPECT_EQ(gguf.tensors->read_f32("lm_head.weight", embedding_shape),
            bin.tensors->read_f32("model.embed_tokens.weight", embedding_shape));
  for (const std::string& name : names) {
    const TensorView& expected = bin.tensors->get(name);
    const std::vector<float> from_bin = bin.tensors->read_f32(name, expected.shape);
    const std::vector<float> from_gguf = gguf.tensors->read_f32(name, expected.shape);
    ASSERT_EQ(from_bin.size(), from_gguf.size()) << name;
    size_t mismatches = 0;
    for (size_t i = 0; i < from_bin.size(); ++i) mismatches += from_bin[i] != from_gguf[i];
    EXPECT_EQ(mismatches, 0u) << name;
  }
}

TEST(Gguf, StoriesVocabMatchesLlama2c) {
  const Checkpoint bin = load_stories_bin();
  const Checkpoint gguf = load_stories_gguf();
  EXPECT_EQ(gguf.vocab.model, "llama");
  ASSERT_EQ(gguf.vocab.tokens.size(), 512u);
  // The GGUF writes BOS and EOS without the newlines the llama2.c file has,
  // and spaces as U+2581 (SentencePiece's "▁") where llama2.c has ' '.
  EXPECT_EQ(gguf.vocab.tokens[1], "<s>");
  EXPECT_EQ(gguf.vocab.tokens[2], "</s>");
  for (size_t id = 3; id < 512; ++id) {
    std::string text = gguf.vocab.tokens[id];
    for (size_t at = text.find("\xE2\x96\x81"); at != std::string::npos; at = text.find("\xE2\x96\x81")) {
      text.replace(at, 3, " ");
    }
    EXPECT_EQ(bin.vocab.tokens[id], text) << "id " << id;
  }
  EXPECT_EQ(bin.vocab.scores, gguf.vocab.scores);
  EXPECT_EQ(bin.vocab.token_types, gguf.vocab.token_types);
  EXPECT_EQ(gguf.vocab.bos_id, 1);
  EXPECT_EQ(gguf.vocab.eos_id, 2);
}

TEST(Gguf, SmolLM2Metadata) {
  if (!std::filesystem::exists(smollm2_gguf())) GTEST_SKIP() << "missing " << smollm2_gguf();
  const GgufFile gguf(smollm2_gguf());
  EXPECT_EQ(gguf.get_string("general.architecture"), "llama");
  EXPECT_EQ(gguf.get_int("llama.block_count"), 30);

  const Checkpoint checkpoint = load_checkpoint(smollm2_gguf());
  const ModelConfig& config = checkpoint.config;
  EXPECT_EQ(config.num_hidden_layers, 30);
  EXPECT_EQ(config.hidden_size, 576);
  EXPECT_EQ(config.num_attention_heads, 9);
  EXPECT_EQ(config.num_key_value_heads, 3);
  EXPECT_EQ(config.head_dim, 64);
  EXPECT_EQ(config.vocab_size, 49152);
  EXPECT_TRUE(config.tie_word_embeddings);
  EXPECT_EQ(checkpoint.vocab.model, "gpt2");
  EXPECT_EQ(checkpoint.vocab.tokens.size(), 49152u);
  EXPECT_FALSE(checkpoint.vocab.merges.empty());
  EXPECT_FALSE(checkpoint.vocab.chat_template.empty());

  const TensorView& q_proj = checkpoint.tensors->get("model.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(q_proj.shape, (std::vector<int64_t>{576, 576}));
  const std::vector<float> values = checkpoint.tensors->read_f32(q_proj.name, q_proj.shape);
  for (float value : values) ASSERT_TRUE(std::isfinite(value));
}

TEST(WeightNames, RotateHalfPermutation) {
  // Two heads of head_dim 4, one float column: row r contains the value r.
  std::vector<float> rows = {0, 1, 2, 3, 4, 5, 6, 7};
  TensorView view;
  view.name = "wq";
  view.shape = {8, 1};
  view.data = reinterpret_cast<const uint8_t*>(rows.data());
  view.nbytes = 32;
  OwnedTensorSource out("test");
  add_rotate_half_permuted(out, view, "q", /*head_dim=*/4);
  EXPECT_EQ(out.read_f32("q", {8, 1}), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
}

TEST(WeightNames, GgufToHuggingFace) {
  EXPECT_EQ(gguf_to_hf_name("token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(gguf_to_hf_name("output_norm.weight"), "model.norm.weight");
  EXPECT_EQ(gguf_to_hf_name("output.weight"), "lm_head.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.12.attn_q.bias"), "model.layers.12.self_attn.q_proj.bias");
  EXPECT_EQ(gguf_to_hf_name("blk.0.attn_output.weight"), "model.layers.0.self_attn.o_proj.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.3.ffn_norm.weight"), "model.layers.3.post_attention_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.3.attn_norm.weight"), "model.layers.3.input_layernorm.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.x.attn_q.weight"), "");
  EXPECT_EQ(gguf_to_hf_name("rope_freqs.weight"), "");
}

TEST(Safetensors, RoundTripAllDtypes) {
  TempDir dir;
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f};
  const std::vector<uint16_t> f16 = {f32_to_f16(1.5f), f32_to_f16(-2.0f), f32_to_f16(65504.0f)};
  const std::vector<uint16_t> bf16 = {f32_to_bf16(3.0f), f32_to_bf16(-0.5f)};
  const auto bytes_of = [](const auto& values) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values.data()),
                                    values.size() * sizeof(values[0]));
  };
  const std::string path = dir.file("round_trip.safetensors");
  write_safetensors(path, {{"a.f32", DType::kF32, {2, 3}, bytes_of(f32)},
                           {"b.f16", DType::kF16, {3}, bytes_of(f16)},
                           {"c.bf16", DType::kBF16, {1, 2}, bytes_of(bf16)}});

  const std::vector<uint8_t> raw = testing::read_file(path);
  uint64_t header_size = 0;
  std::memcpy(&header_size, raw.data(), 8);
  EXPECT_EQ(header_size % 8, 0u);

  const SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  auto source = open_safetensors(path);
  EXPECT_EQ(source->read_f32("a.f32", {2, 3}), f32);
  EXPECT_EQ(source->read_f32("b.f16", {3}), (std::vector<float>{1.5f, -2.0f, 65504.0f}));
  EXPECT_EQ(source->read_f32("c.bf16", {1, 2}), (std::vector<float>{3.0f, -0.5f}));
  EXPECT_EQ(source->get("b.f16").dtype, DType::kF16);
  EXPECT_EQ(source->get("c.bf16").dtype, DType::kBF16);
}

// Writes `checkpoint` as a Hugging Face directory with F32 weights.
void write_hf_dir(const Checkpoint& checkpoint, const std::string& dir, bool sharded) {
  testing::write_text(dir + "/config.json", model_config_to_json(checkpoint.config, "float32").dump(2));
  std::vector<std::vector<float>> buffers;
  std::vector<SafetensorsEntry> entries;
  const std::vector<ExpectedTensor> expected = expected_tensors(checkpoint.config);
  buffers.reserve(expected.size());
  for (const ExpectedTensor& tensor : expected) {
    buffers.push_back(checkpoint.tensors->read_f32(tensor.name, tensor.shape));
    const auto& values = buffers.back();
    entries.push_back({tensor.name, DType::kF32, tensor.shape,
                       {reinterpret_cast<const uint8_t*>(values.data()), values.size() * 4}});
  }
  if (!sharded) {
    write_safetensors(dir + "/model.safetensors", entries);
    return;
  }
  const size_t half = entries.size() / 2;
  write_safetensors(dir + "/part-1.safetensors", {entries.begin(), entries.begin() + half});
  write_safetensors(dir + "/part-2.safetensors", {entries.begin() + half, entries.end()});
  nlohmann::json index;
  for (size_t i = 0; i < entries.size(); ++i) {
    index["weight_map"][entries[i].name] = i < half ? "part-1.safetensors" : "part-2.safetensors";
  }
  testing::write_text(dir + "/model.safetensors.index.json", index.dump());
}

TEST(HuggingFace, RoundTripFromLlama2c) {
  const Checkpoint bin = load_stories_bin();
  for (bool sharded : {false, true}) {
    TempDir dir;
    write_hf_dir(bin, dir.path(), sharded);
    testing::write_text(dir.file("generation_config.json"), R"({"bos_token_id": 1, "eos_token_id": [2, 5]})");
    testing::write_text(dir.file("tokenizer_config.json"), R"({"chat_template": "{{ messages }}"})");
    const Checkpoint hf = load_checkpoint(dir.path());
    EXPECT_EQ(hf.format, CheckpointFormat::kHuggingFace);
    expect_stories_shape(hf.config);
    EXPECT_EQ(hf.config.eos_token_ids, (std::vector<int64_t>{2, 5}));
    EXPECT_EQ(hf.vocab.chat_template, "{{ messages }}");
    for (const std::string& name : bin.tensors->names()) {
      const TensorView& view = bin.tensors->get(name);
      EXPECT_EQ(hf.tensors->read_f32(name, view.shape), bin.tensors->read_f32(name, view.shape)) << name;
    }
  }
}

nlohmann::json base_config() {
  return nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 100, "eos_token_id": 2
  })");
}

TEST(ModelConfig, LlamaDefaults) {
  const ModelConfig config = parse_model_config(base_config(), "config.json");
  EXPECT_EQ(config.head_dim, 8);
  EXPECT_FALSE(config.tie_word_embeddings);
  EXPECT_FALSE(config.attention_bias);
  EXPECT_EQ(config.rope_scaling.type, "");
  EXPECT_EQ(config.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(config.max_position_embeddings, 2048);
}

TEST(ModelConfig, Qwen2SwiftKVAndRopeScaling) {
  nlohmann::json json = base_config();
  json["model_type"] = "qwen2_swiftkv";
  json["swiftkv"] = true;
  json["num_key_value_layers"] = 2;
  json["key_value_group_size"] = 2;
  json["head_dim"] = 16;
  json["eos_token_id"] = {2, 3};
  json["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  const ModelConfig config = parse_model_config(json, "config.json");
  EXPECT_TRUE(config.attention_bias);
  EXPECT_TRUE(config.swiftkv);
  EXPECT_EQ(config.num_key_value_layers, 2);
  EXPECT_EQ(config.key_value_group_size, 2);
  EXPECT_EQ(config.head_dim, 16);
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(config.rope_scaling.type, "llama3");
  EXPECT_FLOAT_EQ(config.rope_scaling.factor, 8.0f);

  // model_config_to_json writes what parse_model_config reads back.
  const nlohmann::json written = model_config_to_json(config);
  EXPECT_EQ(written["architectures"][0], "Qwen2SwiftKVForCausalLM");
  const ModelConfig reread = parse_model_config(written, "written config");
  EXPECT_EQ(reread.num_key_value_layers, 2);
  EXPECT_EQ(reread.key_value_group_size, 2);
  EXPECT_EQ(reread.head_dim, 16);
  EXPECT_EQ(reread.rope_scaling.type, "llama3");
  EXPECT_EQ(reread.eos_token_ids, config.eos_token_ids);
}

TEST(ModelConfig, SwiftKVExpectedTensors) {
  nlohmann::json json = base_config();
  json["model_type"] = "llama_swiftkv";
  json["num_key_value_layers"] = 1;
  json["key_value_group_size"] = 3;
  const ModelConfig config = parse_model_config(json, "config.json");
  std::set<std::string> names;
  for (const ExpectedTensor& tensor : expected_tensors(config)) names.insert(tensor.name);
  EXPECT_TRUE(names.count("model.norm_swiftkv.weight"));
  EXPECT_TRUE(names.count("model.layers.1.self_attn.k_proj_swiftkv.weight"));
  EXPECT_FALSE(names.count("model.layers.2.self_attn.k_proj_swiftkv.weight"));
  EXPECT_TRUE(names.count("model.layers.3.self_attn.q_proj_swiftkv.weight"));
  EXPECT_FALSE(names.count("model.layers.0.self_attn.q_proj_swiftkv.weight"));
  EXPECT_TRUE(names.count("lm_head.weight"));
}

}  // namespace
}  // namespace swiftkv
