// safetensors reading (memory-mapped) and writing.
//
// File layout: an 8-byte little-endian header length N, N bytes of JSON
// mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the end of the header), then the tensor bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "formats/tensor_source.h"

namespace swiftkv {

class SafetensorsFile {
 public:
  // Maps `path` and checks the header length, the JSON and every tensor's
  // dtype (F32, F16 or BF16) and byte range against the file size. Throws
  // Error naming the path, the tensor and the numbers otherwise.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  // Tensors in file order of their data; `data` points into the mapping.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // The "__metadata__" string map (may be empty).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Opens one .safetensors file, or a sharded checkpoint given its
// model.safetensors.index.json (every shard named in "weight_map" is opened
// and must contain the tensors the map assigns to it). Tensors are views
// into the mapped files, which the returned source keeps alive.
std::unique_ptr<OwnedTensorSource> open_safetensors(const std::string& path);
std::unique_ptr<OwnedTensorSource> open_safetensors_index(const std::string& index_path);

// One tensor to write: `data` contains exactly elements x dtype size bytes and
// must stay valid during the call.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;  // F32, F16 or BF16
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};

// Writes `tensors` (in this order) with "__metadata__" {"format": "pt"} and
// the header padded with spaces to a multiple of 8 bytes, as the Python
// safetensors package writes it. Throws Error on a bad entry or I/O failure.
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors);

}  // namespace swiftkv
