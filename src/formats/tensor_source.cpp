#include "formats/tensor_source.h"

#include "core/error.h"

namespace swiftkv {

int64_t TensorView::elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string TensorView::shape_string() const {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

const TensorView* TensorSource::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& TensorSource::get(const std::string& name) const {
  const TensorView* view = find(name);
  if (view == nullptr) {
    fail("missing tensor '%s' in '%s'; the checkpoint is incomplete or of another architecture",
         name.c_str(), origin_.c_str());
  }
  return *view;
}

std::vector<std::string> TensorSource::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

std::vector<float> TensorSource::read_f32(const std::string& name,
                                          const std::vector<int64_t>& expected_shape) const {
  const TensorView& view = get(name);
  if (view.shape != expected_shape) {
    TensorView expected;
    expected.shape = expected_shape;
    fail("tensor '%s' in '%s' has shape %s but the model config implies %s",
         name.c_str(), view.file.c_str(), view.shape_string().c_str(), expected.shape_string().c_str());
  }
  std::vector<float> values(static_cast<size_t>(view.elements()));
  convert_to_f32(view.dtype, view.data, view.elements(), values.data());
  return values;
}

void OwnedTensorSource::add_f32(const std::string& name, std::vector<int64_t> shape,
                                std::vector<float> values) {
  auto buffer = std::make_shared<std::vector<float>>(std::move(values));
  TensorView view;
  view.name = name;
  view.dtype = DType::kF32;
  view.shape = std::move(shape);
  SKV_ASSERT(view.elements() == static_cast<int64_t>(buffer->size()));
  view.data = reinterpret_cast<const uint8_t*>(buffer->data());
  view.nbytes = static_cast<int64_t>(buffer->size() * sizeof(float));
  view.file = origin_;
  buffers_.push_back(buffer);
  tensors_[name] = std::move(view);
}

void OwnedTensorSource::add_view(TensorView view, std::shared_ptr<const void> keep_alive) {
  if (keep_alive) buffers_.push_back(std::move(keep_alive));
  std::string name = view.name;
  tensors_[name] = std::move(view);
}

}  // namespace swiftkv
