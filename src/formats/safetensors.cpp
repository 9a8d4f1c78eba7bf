#include "formats/safetensors.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {

namespace {

using nlohmann::json;

// The Python safetensors package rejects headers above 100 MB as well.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

bool parse_float_dtype(const std::string& text, DType& dtype) {
  if (text == "F32") dtype = DType::kF32;
  else if (text == "F16") dtype = DType::kF16;
  else if (text == "BF16") dtype = DType::kBF16;
  else return false;
  return true;
}

// Elements of `shape`, or -1 when a dimension is negative or the product
// overflows int64.
int64_t checked_elements(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0 || __builtin_mul_overflow(count, dim, &count)) return -1;
  }
  return count;
}

TensorView parse_tensor_entry(const std::string& name, const json& entry, const std::string& path,
                              uint64_t data_size) {
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    fail("tensor '%s' in '%s' has an invalid header entry %s; it needs dtype, shape and data_offsets",
         name.c_str(), path.c_str(), entry.dump().c_str());
  }
  const json& dtype_json = entry.at("dtype");
  TensorView view;
  view.name = name;
  view.file = path;
  if (!dtype_json.is_string() || !parse_float_dtype(dtype_json.get<std::string>(), view.dtype)) {
    fail("tensor '%s' in '%s' has dtype %s; supported: F32, F16, BF16", name.c_str(), path.c_str(),
         dtype_json.dump().c_str());
  }

  const json& shape_json = entry.at("shape");
  if (!shape_json.is_array()) fail("tensor '%s' in '%s' has an invalid shape %s", name.c_str(), path.c_str(), shape_json.dump().c_str());
  for (const json& dim : shape_json) {
    if (!dim.is_number_unsigned()) {
      fail("tensor '%s' in '%s' has an invalid shape %s", name.c_str(), path.c_str(), shape_json.dump().c_str());
    }
    view.shape.push_back(dim.get<int64_t>());
  }

  const json& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail("tensor '%s' in '%s' has invalid data_offsets %s; expected [begin, end]", name.c_str(), path.c_str(),
         offsets.dump().c_str());
  }
  const uint64_t begin = offsets[0].get<uint64_t>();
  const uint64_t end = offsets[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    fail("tensor '%s' in '%s' has data_offsets [%llu, %llu] outside the %llu data bytes of the file; "
         "the file is truncated or corrupt",
         name.c_str(), path.c_str(), static_cast<unsigned long long>(begin),
         static_cast<unsigned long long>(end), static_cast<unsigned long long>(data_size));
  }
  const int64_t elements = checked_elements(view.shape);
  const int64_t element_bytes = dtype_block_bytes(view.dtype);
  if (elements < 0 || static_cast<uint64_t>(elements) > data_size / element_bytes ||
      static_cast<uint64_t>(elements * element_bytes) != end - begin) {
    fail("tensor '%s' in '%s' has shape %s of %s but data_offsets [%llu, %llu] span %llu bytes",
         name.c_str(), path.c_str(), view.shape_string().c_str(), dtype_name(view.dtype),
         static_cast<unsigned long long>(begin), static_cast<unsigned long long>(end),
         static_cast<unsigned long long>(end - begin));
  }
  view.nbytes = static_cast<int64_t>(end - begin);
  // `data` is an offset for now; the constructor adds the base address.
  view.data = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(begin));
  return view;
}

json read_json_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) fail("cannot open '%s'", path.c_str());
  std::ostringstream text;
  text << stream.rdbuf();
  json parsed = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) fail("'%s' is not a valid JSON object", path.c_str());
  return parsed;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  const uint64_t file_size = file_->size();
  if (file_size < 8) {
    fail("'%s' is not a safetensors file: it has %llu bytes, fewer than the 8-byte header length",
         path.c_str(), static_cast<unsigned long long>(file_size));
  }
  uint64_t header_size = 0;
  std::memcpy(&header_size, file_->data(), 8);
  if (header_size > file_size - 8 || header_size > kMaxHeaderBytes) {
    fail("'%s' claims a %llu-byte safetensors header but the file has %llu bytes after the length field; "
         "the file is truncated or not a safetensors file",
         path.c_str(), static_cast<unsigned long long>(header_size),
         static_cast<unsigned long long>(file_size - 8));
  }
  const char* header_begin = reinterpret_cast<const char*>(file_->data() + 8);
  const json header = json::parse(header_begin, header_begin + header_size, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    fail("'%s' has a malformed safetensors header: the %llu bytes after the length field are not a JSON object",
         path.c_str(), static_cast<unsigned long long>(header_size));
  }

  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("'%s' has a malformed __metadata__ entry", path.c_str());
      for (const auto& [key, value] : entry.items()) {
        if (value.is_string()) metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    tensors_.push_back(parse_tensor_entry(name, entry, path, data_size));
  }
  for (TensorView& view : tensors_) {
    view.data = file_->data() + data_start + reinterpret_cast<uintptr_t>(view.data);
  }
}

std::unique_ptr<OwnedTensorSource> open_safetensors(const std::string& path) {
  auto source = std::make_unique<OwnedTensorSource>(path);
  SafetensorsFile file(path);
  std::shared_ptr<const void> keep_alive = file.mapping();
  for (const TensorView& view : file.tensors()) source->add_view(view, keep_alive);
  SKV_LOG_DEBUG("formats", "opened %s: %zu tensors", path.c_str(), file.tensors().size());
  return source;
}

std::unique_ptr<OwnedTensorSource> open_safetensors_index(const std::string& index_path) {
  const json index = read_json_file(index_path);
  if (!index.contains("weight_map") || !index.at("weight_map").is_object()) {
    fail("'%s' has no \"weight_map\" object; it is not a safetensors index", index_path.c_str());
  }
  // Shard file name -> tensor names the index places in it.
  std::map<std::string, std::vector<std::string>> shards;
  for (const auto& [name, shard] : index.at("weight_map").items()) {
    if (!shard.is_string()) fail("weight_map entry '%s' in '%s' is not a file name", name.c_str(), index_path.c_str());
    shards[shard.get<std::string>()].push_back(name);
  }

  const std::filesystem::path directory = std::filesystem::path(index_path).parent_path();
  auto source = std::make_unique<OwnedTensorSource>(directory.string());
  for (const auto& [shard, names] : shards) {
    if (shard.find('/') != std::string::npos) {
      fail("weight_map in '%s' names shard '%s' outside the checkpoint directory", index_path.c_str(), shard.c_str());
    }
    SafetensorsFile file((directory / shard).string());
    std::shared_ptr<const void> keep_alive = file.mapping();
    for (const TensorView& view : file.tensors()) source->add_view(view, keep_alive);
    for (const std::string& name : names) {
      if (source->find(name) == nullptr) {
        fail("tensor '%s' is listed in '%s' but missing from shard '%s'", name.c_str(), index_path.c_str(),
             file.path().c_str());
      }
    }
  }
  return source;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const SafetensorsEntry& entry : tensors) {
    if (entry.dtype != DType::kF32 && entry.dtype != DType::kF16 && entry.dtype != DType::kBF16) {
      fail("cannot write tensor '%s' of type %s to safetensors; supported: F32, F16, BF16", entry.name.c_str(),
           dtype_name(entry.dtype));
    }
    if (entry.name == "__metadata__" || header.contains(entry.name)) {
      fail("cannot write tensor '%s' to '%s': the name is reserved or used twice", entry.name.c_str(), path.c_str());
    }
    const int64_t elements = checked_elements(entry.shape);
    if (elements < 0 || static_cast<uint64_t>(elements * dtype_block_bytes(entry.dtype)) != entry.data.size()) {
      fail("tensor '%s' has %zu bytes, which does not match shape of %zu dimensions and type %s",
           entry.name.c_str(), entry.data.size(), entry.shape.size(), dtype_name(entry.dtype));
    }
    header[entry.name] = {{"dtype", dtype_name(entry.dtype)},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + entry.data.size()}}};
    offset += entry.data.size();
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  if (!stream) fail("cannot create '%s'", path.c_str());
  const uint64_t header_size = header_text.size();
  stream.write(reinterpret_cast<const char*>(&header_size), 8);
  stream.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const SafetensorsEntry& entry : tensors) {
    stream.write(reinterpret_cast<const char*>(entry.data.data()), static_cast<std::streamsize>(entry.data.size()));
  }
  stream.close();
  if (!stream) fail("failed to write '%s': %s; check free disk space and write permission", path.c_str(), std::strerror(errno));
}

}  // namespace swiftkv
