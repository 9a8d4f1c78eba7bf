#include "train/train_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/convert.h"

namespace swiftkv {

void save_trained_model(const Checkpoint& checkpoint, const std::vector<TrainableParam>& params,
                        const std::string& dir) {
  std::map<std::string, const TrainableParam*> trained;
  for (const TrainableParam& p : params) trained[p.name] = &p;
  auto tensors = std::make_unique<OwnedTensorSource>(dir);
  for (const std::string& name : checkpoint.tensors->names()) {
    const auto it = trained.find(name);
    if (it == trained.end()) {
      tensors->add_view(checkpoint.tensors->get(name), nullptr);  // `checkpoint` outlives this call
    } else {
      tensors->add_f32(name, it->second->weight->shape, it->second->weight->values);
    }
  }
  Checkpoint updated;
  updated.format = CheckpointFormat::kHuggingFace;
  updated.path = checkpoint.path;
  updated.config = checkpoint.config;
  updated.tensors = std::move(tensors);
  updated.vocab = checkpoint.vocab;
  write_hf_directory(updated, dir);
}

namespace {

std::span<const uint8_t> bytes_of(const std::vector<float>& values) {
  return {reinterpret_cast<const uint8_t*>(values.data()), values.size() * sizeof(float)};
}

}  // namespace

void save_training_state(const std::string& dir, const std::vector<TrainableParam>& params, AdamW& optimizer,
                         const nlohmann::json& state) {
  std::vector<SafetensorsEntry> entries;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<int64_t>& shape = params[i].weight->shape;
    entries.push_back({params[i].name + ".exp_avg", DType::kF32, shape, bytes_of(optimizer.first_moments()[i])});
    entries.push_back({params[i].name + ".exp_avg_sq", DType::kF32, shape, bytes_of(optimizer.second_moments()[i])});
  }
  write_safetensors(dir + "/optimizer.safetensors", entries);
  nlohmann::json full = state;
  full["optimizer_steps"] = optimizer.steps_taken();
  write_json_file(dir + "/trainer_state.json", full);
}

nlohmann::json load_training_state(const std::string& dir, const std::vector<TrainableParam>& params,
                                   AdamW& optimizer) {
  const std::string state_path = dir + "/trainer_state.json";
  std::ifstream in(state_path);
  if (!in) {
    fail("cannot open '%s'; --resume needs a checkpoint-N directory written by `swiftkv distill --save-every`",
         state_path.c_str());
  }
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("'%s' is not valid JSON: %s", state_path.c_str(), e.what());
  }
  const auto source = open_safetensors(dir + "/optimizer.safetensors");
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<int64_t>& shape = params[i].weight->shape;
    optimizer.first_moments()[i] = source->read_f32(params[i].name + ".exp_avg", shape);
    optimizer.second_moments()[i] = source->read_f32(params[i].name + ".exp_avg_sq", shape);
  }
  if (!state.contains("optimizer_steps") || !state["optimizer_steps"].is_number_integer()) {
    fail("'%s' has no integer \"optimizer_steps\"", state_path.c_str());
  }
  optimizer.set_steps_taken(state["optimizer_steps"].get<int64_t>());
  return state;
}

}  // namespace swiftkv
