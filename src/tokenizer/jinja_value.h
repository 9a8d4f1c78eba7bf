// Runtime values of the Jinja2 chat-template interpreter and the Python
// conversions that Jinja2 applies to them (str(), repr(), truthiness,
// json.dumps). Data values are nlohmann::ordered_json so that dict key order
// follows insertion order, as Python dicts do.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace swiftkv::jinja {

using Json = nlohmann::ordered_json;

class Value;
using Args = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;

// A built-in function or bound method (for example `raise_exception`, or the
// `strip` of a particular string).
struct Function {
  std::string name;
  std::function<Value(const Args&, const Kwargs&)> call;
};

// A Jinja2 value: undefined, a data value (null, bool, number, string, list,
// dict), a `namespace()` object that `set ns.x = ...` mutates in place, or a
// callable.
class Value {
 public:
  enum class Kind { kUndefined, kData, kNamespace, kFunction };

  Value() = default;
  Value(Json data) : kind_(Kind::kData), data_(std::move(data)) {}  // NOLINT: implicit by design.
  static Value undefined(std::string name = "") {
    Value value;
    value.undefined_name_ = std::move(name);
    return value;
  }
  static Value make_namespace(Json fields) {
    Value value;
    value.kind_ = Kind::kNamespace;
    value.namespace_ = std::make_shared<Json>(std::move(fields));
    return value;
  }
  static Value make_function(std::string name, std::function<Value(const Args&, const Kwargs&)> call) {
    Value value;
    value.kind_ = Kind::kFunction;
    value.function_ = std::make_shared<Function>(Function{std::move(name), std::move(call)});
    return value;
  }

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_data() const { return kind_ == Kind::kData; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_function() const { return kind_ == Kind::kFunction; }
  bool is_string() const { return is_data() && data_.is_string(); }
  bool is_array() const { return is_data() && data_.is_array(); }
  bool is_object() const { return is_data() && data_.is_object(); }
  bool is_null() const { return is_data() && data_.is_null(); }
  bool is_number() const { return is_data() && data_.is_number(); }
  bool is_integer() const { return is_data() && data_.is_number_integer(); }

  const Json& data() const { return data_; }
  Json& namespace_fields() const { return *namespace_; }
  const Function& function() const { return *function_; }
  // The variable or attribute name that produced this undefined value.
  const std::string& undefined_name() const { return undefined_name_; }

 private:
  Kind kind_ = Kind::kUndefined;
  Json data_;
  std::shared_ptr<Json> namespace_;
  std::shared_ptr<Function> function_;
  std::string undefined_name_;
};

// Python truthiness: empty strings, lists and dicts, zero, None and undefined
// are false.
bool is_truthy(const Value& value);

// Python str(): what `{{ value }}`, `~` and the `string` filter produce.
std::string to_python_str(const Value& value);

// Python repr() of a data value, used for items inside lists and dicts.
std::string to_python_repr(const Json& value);

// Python json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False),
// the `tojson` filter that transformers installs in place of Jinja2's own.
// `indent` < 0 means no indent, which uses the ", " and ": " separators.
std::string to_json_text(const Json& value, int indent);

// Python repr() of a float: the shortest text that reads back to the same
// double, in exponent form below 1e-4 and from 1e16 up.
std::string format_python_float(double value);

// Python `==` on two values (1 == 1.0, dicts compared by key and value).
bool values_equal(const Value& a, const Value& b);

// Name of the value's Python type for error messages ("str", "list", ...).
std::string type_name(const Value& value);

// UTF-8 code point boundaries of `text`: offsets of each code point start,
// followed by text.size(). Python indexes strings by code point.
std::vector<size_t> code_point_offsets(std::string_view text);

}  // namespace swiftkv::jinja
