#include "formats/gguf.h"

#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/log.h"

namespace swiftkv {

namespace {

// Metadata value type ids of the GGUF specification.
enum GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

// ggml tensors have at most 4 dimensions; nested arrays deeper than this are
// treated as corrupt so a crafted file cannot exhaust the stack.
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;

const char* ggml_type_name(uint32_t id) {
  switch (id) {
    case 6: return "Q5_0";
    case 7: return "Q5_1";
    case 9: return "Q8_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K";
    case 12: return "Q4_K";
    case 13: return "Q5_K";
    case 14: return "Q6_K";
    case 15: return "Q8_K";
    default: return "an unsupported type";
  }
}

bool ggml_type_to_dtype(uint32_t id, DType& dtype) {
  switch (id) {
    case 0: dtype = DType::kF32; return true;
    case 1: dtype = DType::kF16; return true;
    case 2: dtype = DType::kQ4_0; return true;
    case 3: dtype = DType::kQ4_1; return true;
    case 8: dtype = DType::kQ8_0; return true;
    case 30: dtype = DType::kBF16; return true;
    default: return false;
  }
}

// Smallest encoded size of one array element of `type`, used to bound array
// counts by the bytes left in the file before allocating.
uint64_t min_encoded_size(uint32_t type) {
  switch (type) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: case kString: return 8;
    case kArray: return 12;
    default: return 1;
  }
}

// Bounds-checked little-endian reader over the mapped file.
class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  uint64_t position() const { return position_; }
  uint64_t remaining() const { return size_ - position_; }

  template <typename T>
  T read(const char* what) {
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  std::string read_string(const char* what) {
    const uint64_t length = read<uint64_t>(what);
    require(length, what);
    std::string text(reinterpret_cast<const char*>(data_ + position_), length);
    position_ += length;
    return text;
  }

  void require(uint64_t bytes, const char* what) const {
    if (bytes > remaining()) {
      fail("'%s' is truncated or corrupt: reading %s needs %llu bytes at offset %llu but the file has %llu bytes",
           path_.c_str(), what, static_cast<unsigned long long>(bytes),
           static_cast<unsigned long long>(position_), static_cast<unsigned long long>(size_));
    }
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t position_ = 0;
  const std::string& path_;
};

GgufValue read_value(Reader& reader, uint32_t type, const std::string& key, int depth);

GgufValue read_array(Reader& reader, const std::string& key, int depth) {
  if (depth >= kMaxArrayDepth) fail("metadata '%s' nests arrays deeper than %d levels", key.c_str(), kMaxArrayDepth);
  const uint32_t element_type = reader.read<uint32_t>("an array element type");
  const uint64_t count = reader.read<uint64_t>("an array length");
  if (count > reader.remaining() / min_encoded_size(element_type)) {
    fail("metadata '%s' claims %llu array elements but only %llu bytes remain in the file; the file is corrupt",
         key.c_str(), static_cast<unsigned long long>(count), static_cast<unsigned long long>(reader.remaining()));
  }
  GgufArray elements;
  elements.reserve(count);
  for (uint64_t i = 0; i < count; ++i) elements.push_back(read_value(reader, element_type, key, depth + 1));
  return GgufValue{std::move(elements)};
}

GgufValue read_value(Reader& reader, uint32_t type, const std::string& key, int depth) {
  switch (type) {
    case kU8: return GgufValue{static_cast<uint64_t>(reader.read<uint8_t>("a u8 value"))};
    case kI8: return GgufValue{static_cast<int64_t>(reader.read<int8_t>("an i8 value"))};
    case kU16: return GgufValue{static_cast<uint64_t>(reader.read<uint16_t>("a u16 value"))};
    case kI16: return GgufValue{static_cast<int64_t>(reader.read<int16_t>("an i16 value"))};
    case kU32: return GgufValue{static_cast<uint64_t>(reader.read<uint32_t>("a u32 value"))};
    case kI32: return GgufValue{static_cast<int64_t>(reader.read<int32_t>("an i32 value"))};
    case kU64: return GgufValue{reader.read<uint64_t>("a u64 value")};
    case kI64: return GgufValue{reader.read<int64_t>("an i64 value")};
    case kF32: return GgufValue{static_cast<double>(reader.read<float>("an f32 value"))};
    case kF64: return GgufValue{reader.read<double>("an f64 value")};
    case kBool: return GgufValue{reader.read<uint8_t>("a bool value") != 0};
    case kString: return GgufValue{reader.read_string("a string value")};
    case kArray: return read_array(reader, key, depth);
    default:
      fail("metadata '%s' has unknown value type %u; the file is corrupt or from a newer GGUF version",
           key.c_str(), type);
  }
}

const char* value_kind(const GgufValue& value) {
  switch (value.value.index()) {
    case 0: return "an unsigned integer";
    case 1: return "a signed integer";
    case 2: return "a float";
    case 3: return "a bool";
    case 4: return "a string";
    default: return "an array";
  }
}

bool value_as_int(const GgufValue& value, int64_t& out) {
  if (const auto* unsigned_value = std::get_if<uint64_t>(&value.value)) {
    if (*unsigned_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(*unsigned_value);
    return true;
  }
  if (const auto* signed_value = std::get_if<int64_t>(&value.value)) {
    out = *signed_value;
    return true;
  }
  return false;
}

bool value_as_float(const GgufValue& value, double& out) {
  if (const auto* number = std::get_if<double>(&value.value)) {
    out = *number;
    return true;
  }
  int64_t integer = 0;
  if (!value_as_int(value, integer)) return false;
  out = static_cast<double>(integer);
  return true;
}

}  // namespace

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  Reader reader(file_->data(), file_->size(), file_->path());
  if (file_->size() < 4 || std::memcmp(file_->data(), "GGUF", 4) != 0) {
    fail("'%s' is not a GGUF file: it does not start with the magic bytes \"GGUF\"", path.c_str());
  }
  reader.read<uint32_t>("the magic");
  version_ = reader.read<uint32_t>("the version");
  if (version_ != 2 && version_ != 3) {
    fail("'%s' has unsupported GGUF version %u; supported: 2, 3 (convert it again with a current llama.cpp)",
         path.c_str(), version_);
  }
  const uint64_t tensor_count = reader.read<uint64_t>("the tensor count");
  const uint64_t metadata_count = reader.read<uint64_t>("the metadata count");

  // Each metadata entry needs at least 12 bytes (key length, value type) and
  // each tensor info at least 24, so larger counts cannot fit in the file.
  if (metadata_count > reader.remaining() / 12 || tensor_count > reader.remaining() / 24) {
    fail("'%s' claims %llu metadata entries and %llu tensors, more than its %llu bytes can hold; the file is corrupt",
         path.c_str(), static_cast<unsigned long long>(metadata_count),
         static_cast<unsigned long long>(tensor_count), static_cast<unsigned long long>(file_->size()));
  }
  for (uint64_t i = 0; i < metadata_count; ++i) {
    std::string key = reader.read_string("a metadata key");
    const uint32_t type = reader.read<uint32_t>("a metadata value type");
    metadata_[key] = read_value(reader, type, key, 0);
  }

  std::vector<uint32_t> type_ids;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo info;
    info.name = reader.read_string("a tensor name");
    const uint32_t dims = reader.read<uint32_t>("a tensor dimension count");
    if (dims == 0 || dims > kMaxDims) {
      fail("tensor '%s' in '%s' has %u dimensions; GGUF tensors have 1 to %u", info.name.c_str(), path.c_str(),
           dims, kMaxDims);
    }
    info.shape.resize(dims);
    // GGUF lists the innermost dimension first; store outermost first.
    for (uint32_t d = 0; d < dims; ++d) {
      const uint64_t extent = reader.read<uint64_t>("a tensor dimension");
      if (extent == 0 || extent > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        fail("tensor '%s' in '%s' has invalid dimension %llu", info.name.c_str(), path.c_str(),
             static_cast<unsigned long long>(extent));
      }
      info.shape[dims - 1 - d] = static_cast<int64_t>(extent);
    }
    const uint32_t type_id = reader.read<uint32_t>("a tensor type");
    if (!ggml_type_to_dtype(type_id, info.dtype)) {
      fail("tensor '%s' in '%s' has ggml type id %u (%s); supported: F32 (0), F16 (1), Q4_0 (2), Q4_1 (3), "
           "Q8_0 (8), BF16 (30); re-quantize the model to one of these with llama-quantize",
           info.name.c_str(), path.c_str(), type_id, ggml_type_name(type_id));
    }
    info.offset = reader.read<uint64_t>("a tensor data offset");
    tensors_.push_back(std::move(info));
  }

  const int64_t alignment = get_int_or("general.alignment", 32);
  if (alignment <= 0 || alignment > (1 << 30) || (alignment & (alignment - 1)) != 0) {
    fail("'%s' has general.alignment = %lld; it must be a power of two up to 2^30", path.c_str(),
         static_cast<long long>(alignment));
  }
  const uint64_t align = static_cast<uint64_t>(alignment);
  data_offset_ = (reader.position() + align - 1) / align * align;
  if (data_offset_ > file_->size()) {
    fail("'%s' is truncated: the tensor data would start at offset %llu but the file has %llu bytes", path.c_str(),
         static_cast<unsigned long long>(data_offset_), static_cast<unsigned long long>(file_->size()));
  }

  const uint64_t data_size = file_->size() - data_offset_;
  for (const GgufTensorInfo& info : tensors_) {
    int64_t elements = 1;
    for (int64_t extent : info.shape) {
      if (__builtin_mul_overflow(elements, extent, &elements)) elements = -1;
      if (elements < 0) break;
    }
    const int64_t block = dtype_block_elements(info.dtype);
    if (elements < 0 || info.shape.back() % block != 0) {
      TensorView shape_only;
      shape_only.shape = info.shape;
      fail("tensor '%s' in '%s' has shape %s, which is invalid for type %s (its row length must be a multiple of %lld)",
           info.name.c_str(), path.c_str(), shape_only.shape_string().c_str(), dtype_name(info.dtype),
           static_cast<long long>(block));
    }
    const uint64_t nbytes = static_cast<uint64_t>(elements / block) * dtype_block_bytes(info.dtype);
    if (info.offset % align != 0 || info.offset > data_size || nbytes > data_size - info.offset) {
      fail("tensor '%s' in '%s' has data at offset %llu (+%llu bytes) past the end of the %llu data bytes "
           "(or misaligned); the file is truncated or corrupt",
           info.name.c_str(), path.c_str(), static_cast<unsigned long long>(info.offset),
           static_cast<unsigned long long>(nbytes), static_cast<unsigned long long>(data_size));
    }
  }
  SKV_LOG_DEBUG("formats", "opened %s: GGUF v%u, %zu metadata keys, %zu tensors", path.c_str(), version_,
                metadata_.size(), tensors_.size());
}

TensorView GgufFile::tensor_view(const GgufTensorInfo& info) const {
  TensorView view;
  view.name = info.name;
  view.dtype = info.dtype;
  view.shape = info.shape;
  view.file = file_->path();
  view.nbytes = dtype_bytes_for(info.dtype, view.elements());
  view.data = file_->data() + data_offset_ + info.offset;
  return view;
}

std::string GgufFile::get_string(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) fail("missing metadata key '%s' in '%s'", key.c_str(), path().c_str());
  const auto* text = std::get_if<std::string>(&it->second.value);
  if (text == nullptr) {
    fail("metadata '%s' in '%s' is %s, expected a string", key.c_str(), path().c_str(), value_kind(it->second));
  }
  return *text;
}

int64_t GgufFile::get_int(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) fail("missing metadata key '%s' in '%s'", key.c_str(), path().c_str());
  int64_t value = 0;
  if (!value_as_int(it->second, value)) {
    fail("metadata '%s' in '%s' is %s, expected an integer", key.c_str(), path().c_str(), value_kind(it->second));
  }
  return value;
}

double GgufFile::get_float(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) fail("missing metadata key '%s' in '%s'", key.c_str(), path().c_str());
  double value = 0;
  if (!value_as_float(it->second, value)) {
    fail("metadata '%s' in '%s' is %s, expected a number", key.c_str(), path().c_str(), value_kind(it->second));
  }
  return value;
}

bool GgufFile::get_bool(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) fail("missing metadata key '%s' in '%s'", key.c_str(), path().c_str());
  const auto* flag = std::get_if<bool>(&it->second.value);
  if (flag == nullptr) {
    fail("metadata '%s' in '%s' is %s, expected a bool", key.c_str(), path().c_str(), value_kind(it->second));
  }
  return *flag;
}

namespace {

const GgufArray& get_array(const std::map<std::string, GgufValue>& metadata, const std::string& key,
                           const std::string& path) {
  auto it = metadata.find(key);
  if (it == metadata.end()) fail("missing metadata key '%s' in '%s'", key.c_str(), path.c_str());
  const auto* array = std::get_if<GgufArray>(&it->second.value);
  if (array == nullptr) {
    fail("metadata '%s' in '%s' is %s, expected an array", key.c_str(), path.c_str(), value_kind(it->second));
  }
  return *array;
}

}  // namespace

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  std::vector<std::string> out;
  for (const GgufValue& element : get_array(metadata_, key, path())) {
    const auto* text = std::get_if<std::string>(&element.value);
    if (text == nullptr) fail("metadata '%s' in '%s' must be an array of strings", key.c_str(), path().c_str());
    out.push_back(*text);
  }
  return out;
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  std::vector<double> out;
  for (const GgufValue& element : get_array(metadata_, key, path())) {
    double value = 0;
    if (!value_as_float(element, value)) fail("metadata '%s' in '%s' must be an array of numbers", key.c_str(), path().c_str());
    out.push_back(value);
  }
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  std::vector<int64_t> out;
  for (const GgufValue& element : get_array(metadata_, key, path())) {
    int64_t value = 0;
    if (!value_as_int(element, value)) fail("metadata '%s' in '%s' must be an array of integers", key.c_str(), path().c_str());
    out.push_back(value);
  }
  return out;
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

int64_t GgufFile::get_int_or(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double GgufFile::get_float_or(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool_or(const std::string& key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}

}  // namespace swiftkv
