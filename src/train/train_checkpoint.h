// Checkpoints of a distillation run: the model as a Hugging Face
// llama_swiftkv directory, plus the optimizer moments and the position in
// the run, so a resumed run continues exactly where it stopped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/checkpoint.h"
#include "train/optimizer.h"
#include "train/student.h"

namespace swiftkv {

// Writes `checkpoint` with the trained tensors of `params` replacing its own
// (config.json, model.safetensors, tokenizer files) into `dir`.
void save_trained_model(const Checkpoint& checkpoint, const std::vector<TrainableParam>& params,
                        const std::string& dir);

// Adds optimizer.safetensors (AdamW moments) and trainer_state.json (`state`
// plus the optimizer step count) to `dir`.
void save_training_state(const std::string& dir, const std::vector<TrainableParam>& params, AdamW& optimizer,
                         const nlohmann::json& state);

// Reads trainer_state.json of `dir` and restores the AdamW moments; throws
// Error naming the file when it is missing or does not match `params`.
nlohmann::json load_training_state(const std::string& dir, const std::vector<TrainableParam>& params,
                                   AdamW& optimizer);

}  // namespace swiftkv
