#include "formats/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "formats/llama2c.h"
#include "formats/safetensors.h"
#include "formats/weight_names.h"

namespace swiftkv {

namespace {

namespace fs = std::filesystem;

// Returns the file's contents, or "" when it does not exist.
std::string read_optional_file(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return "";
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

std::string chat_template_from(const std::string& tokenizer_config_json, const std::string& origin) {
  if (tokenizer_config_json.empty()) return "";
  const nlohmann::json parsed = nlohmann::json::parse(tokenizer_config_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) fail("'%s' is not a valid JSON object", origin.c_str());
  auto it = parsed.find("chat_template");
  if (it == parsed.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

bool starts_with_gguf_magic(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) fail("cannot open '%s': no such file or directory", path.c_str());
  char magic[4] = {};
  stream.read(magic, 4);
  return stream.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

Checkpoint load_hf_checkpoint(const std::string& directory) {
  const fs::path dir(directory);
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) {
    fail("'%s' has no config.json; a Hugging Face checkpoint directory needs config.json and "
         "model.safetensors (or model.safetensors.index.json with its shards)",
         directory.c_str());
  }
  Checkpoint checkpoint;
  checkpoint.format = CheckpointFormat::kHuggingFace;
  checkpoint.path = directory;
  checkpoint.config = load_model_config(config_path.string());
  merge_generation_config(checkpoint.config, (dir / "generation_config.json").string());

  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";
  std::unique_ptr<OwnedTensorSource> tensors;
  if (fs::exists(index_path)) {
    tensors = open_safetensors_index(index_path.string());
  } else if (fs::exists(single_path)) {
    tensors = open_safetensors(single_path.string());
  } else {
    fail("'%s' has neither model.safetensors nor model.safetensors.index.json; PyTorch .bin weights are not "
         "supported, so convert them to safetensors first",
         directory.c_str());
  }
  check_tensors(*tensors, checkpoint.config);
  checkpoint.tensors = std::move(tensors);

  VocabSpec& vocab = checkpoint.vocab;
  vocab.tokenizer_json = read_optional_file(dir / "tokenizer.json");
  vocab.tokenizer_config_json = read_optional_file(dir / "tokenizer_config.json");
  vocab.chat_template = chat_template_from(vocab.tokenizer_config_json, (dir / "tokenizer_config.json").string());
  vocab.bos_id = checkpoint.config.bos_token_id;
  if (!checkpoint.config.eos_token_ids.empty()) vocab.eos_id = checkpoint.config.eos_token_ids[0];
  if (vocab.tokenizer_json.empty()) {
    SKV_LOG_WARN("formats", "'%s' has no tokenizer.json; text cannot be tokenized with this checkpoint",
                 directory.c_str());
  }
  SKV_LOG_INFO("formats", "loaded Hugging Face checkpoint %s (%s, L %lld, D %lld)", directory.c_str(),
               checkpoint.config.model_type.c_str(), static_cast<long long>(checkpoint.config.num_hidden_layers),
               static_cast<long long>(checkpoint.config.hidden_size));
  return checkpoint;
}

Checkpoint load_checkpoint(const std::string& path, const std::string& tokenizer_path,
                           const std::string& tokenizer_option) {
  if (fs::is_directory(path)) return load_hf_checkpoint(path);
  if (starts_with_gguf_magic(path)) return load_gguf_checkpoint(path);
  if (tokenizer_path.empty()) {
    fail("'%s' is neither a Hugging Face directory nor a GGUF file; if it is a llama2.c checkpoint, pass its "
         "tokenizer file with %s",
         path.c_str(), tokenizer_option.c_str());
  }
  return load_llama2c_checkpoint(path, tokenizer_path);
}

}  // namespace swiftkv
