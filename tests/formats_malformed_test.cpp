// Malformed inputs to the formats layer: each must throw swiftkv::Error
// (never crash or read out of bounds).
#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>

#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "formats/gguf.h"
#include "formats/model_config.h"
#include "formats/safetensors.h"
#include "formats/weight_names.h"
#include "model/model.h"
#include "formats_test_util.h"

namespace swiftkv {
namespace {

using testing::ByteWriter;
using testing::stories_dir;
using testing::TempDir;

// A minimal GGUF with one F32 tensor "t" of 32 elements.
struct GgufParts {
  uint32_t magic = 0x46554747;  // "GGUF" little-endian
  uint32_t version = 3;
  uint32_t type_id = 0;
  uint64_t offset = 0;
  uint64_t array_count = 2;
};

std::vector<uint8_t> make_gguf(const GgufParts& parts) {
  ByteWriter out;
  out.put<uint32_t>(parts.magic).put<uint32_t>(parts.version);
  out.put<uint64_t>(1).put<uint64_t>(3);  // tensors, metadata entries
  out.put_string("general.architecture").put<uint32_t>(8).put_string("llama");
  out.put_string("general.alignment").put<uint32_t>(4).put<uint32_t>(32);
  out.put_string("numbers").put<uint32_t>(9).put<uint32_t>(5).put<uint64_t>(parts.array_count);
  out.put<int32_t>(7).put<int32_t>(-7);
  out.put_string("t").put<uint32_t>(1).put<uint64_t>(32).put<uint32_t>(parts.type_id).put<uint64_t>(parts.offset);
  out.pad_to(32);
  for (int i = 0; i < 32; ++i) out.put<float>(static_cast<float>(i));
  return out.bytes;
}

TEST(GgufMalformed, HandMadeFileIsValid) {
  TempDir dir;
  testing::write_file(dir.file("ok.gguf"), make_gguf({}));
  const GgufFile gguf(dir.file("ok.gguf"));
  ASSERT_EQ(gguf.tensors().size(), 1u);
  EXPECT_EQ(gguf.get_int_array("numbers"), (std::vector<int64_t>{7, -7}));
  const TensorView view = gguf.tensor_view(gguf.tensors()[0]);
  EXPECT_EQ(reinterpret_cast<const float*>(view.data)[31], 31.0f);
}

TEST(GgufMalformed, TruncatedAtManyOffsets) {
  const std::vector<uint8_t> bytes = testing::read_file(stories_dir() + "/stories260Ktok512.gguf");
  ASSERT_GT(bytes.size(), 200000u);
  std::vector<size_t> cuts;
  for (size_t cut = 0; cut < 65536; cut += 997) cuts.push_back(cut);
  for (size_t cut : {size_t{100000}, size_t{500000}, bytes.size() / 2, bytes.size() - 1}) cuts.push_back(cut);
  TempDir dir;
  const std::string path = dir.file("cut.gguf");
  for (size_t cut : cuts) {
    testing::write_file(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(cut)));
    EXPECT_THROW(GgufFile{path}, Error) << "cut at " << cut;
  }
}

TEST(GgufMalformed, BadMagic) {
  TempDir dir;
  GgufParts parts;
  parts.magic = 0x12345678;
  testing::write_file(dir.file("bad.gguf"), make_gguf(parts));
  EXPECT_THROW(GgufFile{dir.file("bad.gguf")}, Error);
}

TEST(GgufMalformed, VersionOne) {
  TempDir dir;
  GgufParts parts;
  parts.version = 1;
  testing::write_file(dir.file("v1.gguf"), make_gguf(parts));
  try {
    GgufFile gguf(dir.file("v1.gguf"));
    FAIL() << "version 1 was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unsupported"), std::string::npos) << error.what();
  }
}

TEST(GgufMalformed, UnknownTypeId) {
  TempDir dir;
  GgufParts parts;
  parts.type_id = 12;  // Q4_K
  testing::write_file(dir.file("q4k.gguf"), make_gguf(parts));
  try {
    GgufFile gguf(dir.file("q4k.gguf"));
    FAIL() << "type id 12 was accepted";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("'t'"), std::string::npos) << message;
    EXPECT_NE(message.find("12"), std::string::npos) << message;
    EXPECT_NE(message.find("supported"), std::string::npos) << message;
  }
}

TEST(GgufMalformed, DataOffsetPastEnd) {
  TempDir dir;
  GgufParts parts;
  parts.offset = 64;
  testing::write_file(dir.file("offset.gguf"), make_gguf(parts));
  EXPECT_THROW(GgufFile{dir.file("offset.gguf")}, Error);
}

TEST(GgufMalformed, HugeArrayCount) {
  TempDir dir;
  GgufParts parts;
  parts.array_count = uint64_t{1} << 60;
  testing::write_file(dir.file("array.gguf"), make_gguf(parts));
  EXPECT_THROW(GgufFile{dir.file("array.gguf")}, Error);
}

TEST(GgufMalformed, GarbageBytes) {
  TempDir dir;
  std::vector<uint8_t> bytes = make_gguf({});
  // Flip header bytes one at a time; each result must parse or throw Error.
  const std::vector<uint8_t> original = bytes;
  for (size_t i = 8; i < 200 && i < bytes.size(); ++i) {
    bytes = original;
    bytes[i] ^= 0xff;
    testing::write_file(dir.file("garbage.gguf"), bytes);
    try {
      GgufFile gguf(dir.file("garbage.gguf"));
    } catch (const Error&) {
    }
  }
}

// A valid safetensors file with one F32 tensor "w" of shape [2, 2].
std::vector<uint8_t> make_safetensors(const std::string& header) {
  ByteWriter out;
  out.put<uint64_t>(header.size());
  out.bytes.insert(out.bytes.end(), header.begin(), header.end());
  for (int i = 0; i < 4; ++i) out.put<float>(static_cast<float>(i));
  return out.bytes;
}

const char* kGoodHeader = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";

TEST(SafetensorsMalformed, HandMadeFileIsValid) {
  TempDir dir;
  testing::write_file(dir.file("ok.safetensors"), make_safetensors(kGoodHeader));
  auto source = open_safetensors(dir.file("ok.safetensors"));
  EXPECT_EQ(source->read_f32("w", {2, 2}), (std::vector<float>{0, 1, 2, 3}));
}

TEST(SafetensorsMalformed, Truncated) {
  TempDir dir;
  std::vector<uint8_t> bytes = make_safetensors(kGoodHeader);
  for (size_t keep : {size_t{0}, size_t{5}, size_t{20}, bytes.size() - 1}) {
    testing::write_file(dir.file("cut.safetensors"), std::vector<uint8_t>(bytes.begin(), bytes.begin() + keep));
    EXPECT_THROW(SafetensorsFile{dir.file("cut.safetensors")}, Error) << "kept " << keep;
  }
}

TEST(SafetensorsMalformed, HeaderLengthLargerThanFile) {
  TempDir dir;
  std::vector<uint8_t> bytes = make_safetensors(kGoodHeader);
  const uint64_t huge = 1u << 20;
  std::memcpy(bytes.data(), &huge, 8);
  testing::write_file(dir.file("long.safetensors"), bytes);
  EXPECT_THROW(SafetensorsFile{dir.file("long.safetensors")}, Error);
}

TEST(SafetensorsMalformed, HeaderJsonMalformed) {
  TempDir dir;
  testing::write_file(dir.file("json.safetensors"), make_safetensors(R"({"w":{"dtype":"F32",)"));
  EXPECT_THROW(SafetensorsFile{dir.file("json.safetensors")}, Error);
  testing::write_file(dir.file("array.safetensors"), make_safetensors("[1, 2]"));
  EXPECT_THROW(SafetensorsFile{dir.file("array.safetensors")}, Error);
  testing::write_file(dir.file("entry.safetensors"), make_safetensors(R"({"w": 5})"));
  EXPECT_THROW(SafetensorsFile{dir.file("entry.safetensors")}, Error);
}

TEST(SafetensorsMalformed, UnknownDtype) {
  TempDir dir;
  testing::write_file(dir.file("dtype.safetensors"),
                      make_safetensors(R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})"));
  try {
    SafetensorsFile file(dir.file("dtype.safetensors"));
    FAIL() << "dtype I64 was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("'w'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("I64"), std::string::npos) << error.what();
  }
}

TEST(SafetensorsMalformed, DataOffsetsOutOfRange) {
  TempDir dir;
  const char* headers[] = {
      R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}})",
      R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]}})",
      R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
      R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0]}})",
      R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}})",
  };
  for (const char* header : headers) {
    testing::write_file(dir.file("range.safetensors"), make_safetensors(header));
    EXPECT_THROW(SafetensorsFile{dir.file("range.safetensors")}, Error) << header;
  }
}

nlohmann::json small_config() {
  return nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 100
  })");
}

void expect_config_error(const nlohmann::json& json, const std::string& fragment) {
  try {
    parse_model_config(json, "config.json");
    FAIL() << "accepted " << json.dump();
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(ModelConfigMalformed, UnknownModelType) {
  nlohmann::json json = small_config();
  json["model_type"] = "gemma";
  expect_config_error(json, "unsupported model_type 'gemma' in config.json; supported: llama, mistral, qwen2, "
                             "llama_swiftkv, qwen2_swiftkv");
}

TEST(ModelConfigMalformed, MissingKeys) {
  for (const char* key : {"model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads", "vocab_size"}) {
    nlohmann::json json = small_config();
    json.erase(key);
    expect_config_error(json, key);
  }
}

TEST(ModelConfigMalformed, BadValues) {
  nlohmann::json json = small_config();
  json["num_key_value_heads"] = 3;
  expect_config_error(json, "num_key_value_heads");
  json = small_config();
  json["hidden_size"] = "64";
  expect_config_error(json, "hidden_size");
  json = small_config();
  json["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  expect_config_error(json, "yarn");
}

TEST(ModelConfigMalformed, BadSwiftKVLayersAndGroup) {
  nlohmann::json json = small_config();
  json["model_type"] = "llama_swiftkv";
  for (int k : {0, 4, 9}) {
    json["num_key_value_layers"] = k;
    expect_config_error(json, "num_key_value_layers = " + std::to_string(k));
  }
  json["num_key_value_layers"] = 1;
  json["key_value_group_size"] = 2;  // 3 SwiftKV layers do not split into groups of 2
  expect_config_error(json, "key_value_group_size = 2");
  json["key_value_group_size"] = 0;
  expect_config_error(json, "key_value_group_size = 0");
  json.erase("num_key_value_layers");
  expect_config_error(json, "num_key_value_layers");
}

TEST(Llama2cMalformed, WrongSize) {
  const std::vector<uint8_t> bytes = testing::read_file(stories_dir() + "/stories260K.bin");
  TempDir dir;
  const std::string tokenizer = stories_dir() + "/tok512.bin";
  std::vector<uint8_t> shorter(bytes.begin(), bytes.end() - 1);
  testing::write_file(dir.file("short.bin"), shorter);
  EXPECT_THROW(load_checkpoint(dir.file("short.bin"), tokenizer), Error);
  std::vector<uint8_t> longer = bytes;
  longer.resize(bytes.size() + 4);
  testing::write_file(dir.file("long.bin"), longer);
  EXPECT_THROW(load_checkpoint(dir.file("long.bin"), tokenizer), Error);
  testing::write_file(dir.file("header.bin"), std::vector<uint8_t>(bytes.begin(), bytes.begin() + 20));
  EXPECT_THROW(load_checkpoint(dir.file("header.bin"), tokenizer), Error);
  std::vector<uint8_t> bad_header = bytes;
  const int32_t negative_layers = -5;
  std::memcpy(bad_header.data() + 8, &negative_layers, 4);
  testing::write_file(dir.file("layers.bin"), bad_header);
  EXPECT_THROW(load_checkpoint(dir.file("layers.bin"), tokenizer), Error);
}

// A NaN weight is rejected at load, naming the tensor, for every weight
// format, because int8 and q4 would otherwise pack it as zero and run on.
TEST(Llama2cMalformed, NonFiniteWeightRejected) {
  std::vector<uint8_t> bytes = testing::read_file(stories_dir() + "/stories260K.bin");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const size_t embedding_element = 28 + 4 * 100;  // after the 7-int header
  std::memcpy(bytes.data() + embedding_element, &nan, 4);
  TempDir dir;
  testing::write_file(dir.file("nan.bin"), bytes);
  const Checkpoint checkpoint = load_checkpoint(dir.file("nan.bin"), stories_dir() + "/tok512.bin");
  for (WeightFormat format : {WeightFormat::kF32, WeightFormat::kAuto, WeightFormat::kInt8, WeightFormat::kQ4}) {
    try {
      make_model(checkpoint, /*use_swiftkv=*/false, format);
      FAIL() << "loaded a NaN weight with " << weight_format_name(format);
    } catch (const Error& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("'model.embed_tokens.weight'"), std::string::npos) << message;
      EXPECT_NE(message.find("element 100"), std::string::npos) << message;
      EXPECT_NE(message.find("corrupt"), std::string::npos) << message;
    }
  }
}

TEST(Llama2cMalformed, NeedsTokenizer) {
  try {
    load_checkpoint(stories_dir() + "/stories260K.bin");
    FAIL() << "loaded a llama2.c checkpoint without a tokenizer";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("--tokenizer"), std::string::npos) << error.what();
  }
  EXPECT_THROW(load_checkpoint(stories_dir() + "/stories260K.bin", stories_dir() + "/stories260K.bin"), Error);
  EXPECT_THROW(load_checkpoint("/tmp/swiftkv_no_such_checkpoint.bin"), Error);
}

// Writes a stories260K Hugging Face directory, with `edit` applied to the
// list of tensors before writing.
void write_stories_hf_dir(const std::string& dir, const std::function<void(std::vector<ExpectedTensor>&)>& edit) {
  const Checkpoint bin = load_checkpoint(stories_dir() + "/stories260K.bin", stories_dir() + "/tok512.bin");
  testing::write_text(dir + "/config.json", model_config_to_json(bin.config, "float32").dump());
  std::vector<ExpectedTensor> tensors = expected_tensors(bin.config);
  edit(tensors);
  std::vector<std::vector<float>> buffers;
  buffers.reserve(tensors.size());
  std::vector<SafetensorsEntry> entries;
  for (const ExpectedTensor& tensor : tensors) {
    int64_t elements = 1;
    for (int64_t dim : tensor.shape) elements *= dim;
    buffers.emplace_back(static_cast<size_t>(elements), 0.5f);
    entries.push_back({tensor.name, DType::kF32, tensor.shape,
                       {reinterpret_cast<const uint8_t*>(buffers.back().data()), buffers.back().size() * 4}});
  }
  write_safetensors(dir + "/model.safetensors", entries);
}

TEST(HuggingFaceMalformed, MissingTensor) {
  TempDir dir;
  write_stories_hf_dir(dir.path(), [](std::vector<ExpectedTensor>& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const ExpectedTensor& t) { return t.name == "model.layers.3.mlp.up_proj.weight"; }),
                  tensors.end());
  });
  try {
    load_checkpoint(dir.path());
    FAIL() << "loaded a directory with a missing tensor";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("model.layers.3.mlp.up_proj.weight"), std::string::npos) << error.what();
  }
}

TEST(HuggingFaceMalformed, WrongShape) {
  TempDir dir;
  write_stories_hf_dir(dir.path(), [](std::vector<ExpectedTensor>& tensors) {
    for (ExpectedTensor& tensor : tensors) {
      if (tensor.name == "model.layers.1.self_attn.k_proj.weight") tensor.shape = {64, 64};
    }
  });
  try {
    load_checkpoint(dir.path());
    FAIL() << "loaded a directory with a wrong shape";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("[64, 64]"), std::string::npos) << error.what();
  }
}

TEST(HuggingFaceMalformed, MissingFiles) {
  TempDir dir;
  EXPECT_THROW(load_checkpoint(dir.path()), Error);
  testing::write_text(dir.file("config.json"), small_config().dump());
  EXPECT_THROW(load_checkpoint(dir.path()), Error);
  testing::write_text(dir.file("config.json"), "{not json");
  EXPECT_THROW(load_checkpoint(dir.path()), Error);
}

}  // namespace
}  // namespace swiftkv
