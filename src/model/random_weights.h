// Random weights with a model's shapes, for tests and speed benchmarks
// (speed does not depend on weight values).
#pragma once

#include <cstdint>

#include "formats/model_config.h"
#include "model/weights.h"

namespace swiftkv {

// Draws every weight the config implies (SwiftKV ones included) from a
// seeded generator: linear weights uniform in +-1/sqrt(in_features), norm
// weights around 1, biases small.
ModelWeights random_weights(const ModelConfig& config, uint64_t seed);

}  // namespace swiftkv
