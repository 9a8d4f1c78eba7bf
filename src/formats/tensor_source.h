// A named collection of stored tensors, independent of the file format.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace swiftkv {

// A view of one stored tensor. `shape` is row-major, outermost first, in the
// Hugging Face convention (a linear weight is [out_features, in_features]).
// `data` points into memory owned by the TensorSource it came from.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  int64_t nbytes = 0;
  std::string file;  // file the tensor was read from, for messages

  int64_t elements() const;
  std::string shape_string() const;  // "[576, 49152]"
};

// Tensors by Hugging Face name ("model.layers.0.self_attn.q_proj.weight"),
// with q/k projections in the Hugging Face rotate-half RoPE row order.
class TensorSource {
 public:
  virtual ~TensorSource() = default;

  // Returns nullptr when there is no tensor of that name.
  const TensorView* find(const std::string& name) const;
  // Returns the tensor or throws Error naming the tensor and the checkpoint.
  const TensorView& get(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& origin() const { return origin_; }

  // Reads a tensor as float32 (converting or dequantizing); throws Error if
  // its shape differs from `expected_shape`.
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& expected_shape) const;

 protected:
  std::string origin_;  // path of the checkpoint, for messages
  std::map<std::string, TensorView> tensors_;
};

// A TensorSource whose tensors live in buffers it owns (llama2.c files,
// permuted GGUF tensors, converted or newly created weights).
class OwnedTensorSource : public TensorSource {
 public:
  explicit OwnedTensorSource(std::string origin) { origin_ = std::move(origin); }
  // Adds a float32 tensor; `values.size()` must match the shape.
  void add_f32(const std::string& name, std::vector<int64_t> shape, std::vector<float> values);
  // Adds a tensor viewing memory kept alive by `keep_alive`.
  void add_view(TensorView view, std::shared_ptr<const void> keep_alive);

 private:
  std::vector<std::shared_ptr<const void>> buffers_;
};

}  // namespace swiftkv
