#include "tokenizer/jinja_builtins.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace swiftkv::jinja {

namespace {

[[noreturn]] void raise(const std::string& message) { throw EvalError{message}; }

const std::string& require_string(const Value& value, const char* what) {
  if (!value.is_string()) raise(std::string(what) + " expects a str, got " + type_name(value));
  return value.data().get_ref<const std::string&>();
}

int64_t require_int(const Value& value, const char* what) {
  if (!value.is_data() || !(value.data().is_number_integer() || value.data().is_boolean())) {
    raise(std::string(what) + " expects an int, got " + type_name(value));
  }
  return value.data().is_boolean() ? (value.data().get<bool>() ? 1 : 0) : value.data().get<int64_t>();
}

// Argument `index` or keyword `key`, or undefined when neither is given.
Value argument(const Args& args, const Kwargs& kwargs, size_t index, const char* key) {
  for (const auto& [name, value] : kwargs) {
    if (name == key) return value;
  }
  return index < args.size() ? args[index] : Value::undefined();
}

void check_arguments(const char* what, const Args& args, const Kwargs& kwargs, size_t max_positional,
                     std::initializer_list<const char*> keywords) {
  if (args.size() > max_positional) {
    raise(std::string(what) + " takes at most " + std::to_string(max_positional) + " argument(s), got " + std::to_string(args.size()));
  }
  for (const auto& kwarg : kwargs) {
    const bool known = std::any_of(keywords.begin(), keywords.end(), [&](const char* key) { return kwarg.first == key; });
    if (!known) raise(std::string(what) + " got an unexpected keyword argument '" + kwarg.first + "'");
  }
}

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python str.strip/lstrip/rstrip. NOTE: without `chars` only ASCII
// whitespace is stripped, while Python also strips Unicode spaces.
std::string strip(const std::string& text, const Value& chars, bool left, bool right) {
  auto strippable = [&](unsigned char c) {
    if (chars.is_undefined() || chars.is_null()) return is_space(c);
    return chars.data().get_ref<const std::string&>().find(static_cast<char>(c)) != std::string::npos;
  };
  size_t begin = 0;
  size_t end = text.size();
  if (left) {
    while (begin < end && strippable(static_cast<unsigned char>(text[begin]))) ++begin;
  }
  if (right) {
    while (end > begin && strippable(static_cast<unsigned char>(text[end - 1]))) --end;
  }
  return text.substr(begin, end - begin);
}

std::string to_upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string to_lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string capitalize(const std::string& text) {
  std::string out = to_lower(text);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string title_case(const std::string& text) {
  std::string out = text;
  bool previous_is_letter = false;
  for (char& c : out) {
    const unsigned char u = static_cast<unsigned char>(c);
    c = static_cast<char>(previous_is_letter ? std::tolower(u) : std::toupper(u));
    previous_is_letter = std::isalpha(u) != 0;
  }
  return out;
}

std::string replace_all(const std::string& text, const std::string& old_text, const std::string& new_text, int64_t count) {
  std::string out;
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = text.find(old_text, pos);
    if (found == std::string::npos) break;
    if (old_text.empty()) {
      // Python inserts the replacement between every code point.
      if (found >= text.size()) {
        out += new_text;
        pos = text.size() + 1;
        ++done;
        break;
      }
      const std::vector<size_t> offsets = code_point_offsets(std::string_view(text).substr(found));
      out += new_text + text.substr(found, offsets[1]);
      pos = found + offsets[1];
    } else {
      out += text.substr(pos, found - pos) + new_text;
      pos = found + old_text.size();
    }
    ++done;
  }
  if (pos <= text.size()) out += text.substr(pos);
  return out;
}

// Python str.split(sep=None, maxsplit=-1).
Json split(const std::string& text, const Value& separator, int64_t max_split) {
  Json parts = Json::array();
  if (separator.is_undefined() || separator.is_null()) {
    size_t pos = 0;
    while (true) {
      while (pos < text.size() && is_space(static_cast<unsigned char>(text[pos]))) ++pos;
      if (pos >= text.size()) break;
      if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
        parts.push_back(strip(text.substr(pos), Value::undefined(), false, true));
        break;
      }
      size_t end = pos;
      while (end < text.size() && !is_space(static_cast<unsigned char>(text[end]))) ++end;
      parts.push_back(text.substr(pos, end - pos));
      pos = end;
    }
    return parts;
  }
  const std::string& sep = require_string(separator, "str.split()");
  if (sep.empty()) raise("str.split(): empty separator");
  size_t pos = 0;
  while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
    const size_t found = text.find(sep, pos);
    if (found == std::string::npos) break;
    parts.push_back(text.substr(pos, found - pos));
    pos = found + sep.size();
  }
  parts.push_back(text.substr(pos));
  return parts;
}

bool matches_affix(const std::string& text, const Value& affix, bool prefix) {
  auto check = [&](const Value& candidate) {
    const std::string& value = require_string(candidate, prefix ? "str.startswith()" : "str.endswith()");
    if (value.size() > text.size()) return false;
    return prefix ? text.compare(0, value.size(), value) == 0 : text.compare(text.size() - value.size(), value.size(), value) == 0;
  };
  if (affix.is_array()) {
    for (const Json& item : affix.data()) {
      if (check(Value(item))) return true;
    }
    return false;
  }
  return check(affix);
}

Value bind_string_method(const std::string& text, const std::string& name) {
  auto method = [&](auto body) { return Value::make_function("str." + name, body); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip";
    const bool right = name != "lstrip";
    return method([text, left, right](const Args& args, const Kwargs& kwargs) {
      check_arguments("str.strip()", args, kwargs, 1, {});
      const Value chars = argument(args, kwargs, 0, "chars");
      if (!chars.is_undefined() && !chars.is_null()) require_string(chars, "str.strip()");
      return Value(Json(strip(text, chars, left, right)));
    });
  }
  if (name == "startswith" || name == "endswith") {
    const bool prefix = name == "startswith";
    return method([text, prefix](const Args& args, const Kwargs& kwargs) {
      check_arguments("str.startswith()", args, kwargs, 1, {});
      if (args.empty()) raise("str.startswith() and str.endswith() need an argument");
      return Value(Json(matches_affix(text, args[0], prefix)));
    });
  }
  if (name == "split") {
    return method([text](const Args& args, const Kwargs& kwargs) {
      check_arguments("str.split()", args, kwargs, 2, {"sep", "maxsplit"});
      const Value max_split = argument(args, kwargs, 1, "maxsplit");
      return Value(split(text, argument(args, kwargs, 0, "sep"), max_split.is_undefined() ? -1 : require_int(max_split, "str.split()")));
    });
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    return method([text, name](const Args& args, const Kwargs& kwargs) {
      check_arguments("str case method", args, kwargs, 0, {});
      if (name == "upper") return Value(Json(to_upper(text)));
      if (name == "lower") return Value(Json(to_lower(text)));
      if (name == "title") return Value(Json(title_case(text)));
      return Value(Json(capitalize(text)));
    });
  }
  if (name == "replace") {
    return method([text](const Args& args, const Kwargs& kwargs) {
      check_arguments("str.replace()", args, kwargs, 3, {});
      if (args.size() < 2) raise("str.replace() needs the old and new strings");
      const int64_t count = args.size() > 2 ? require_int(args[2], "str.replace()") : -1;
      return Value(Json(replace_all(text, require_string(args[0], "str.replace()"), require_string(args[1], "str.replace()"), count)));
    });
  }
  if (name == "join") {
    return method([text](const Args& args, const Kwargs& kwargs) {
      check_arguments("str.join()", args, kwargs, 1, {});
      if (args.empty()) raise("str.join() needs an iterable");
      std::string out;
      bool first = true;
      for (const Value& item : iterate(args[0])) {
        if (!first) out += text;
        first = false;
        out += require_string(item, "str.join()");
      }
      return Value(Json(out));
    });
  }
  return Value::undefined(name);
}

Value bind_dict_method(const Json& dict, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return Value::make_function("dict." + name, [dict, name](const Args& args, const Kwargs& kwargs) {
      check_arguments("dict method", args, kwargs, 0, {});
      Json out = Json::array();
      for (auto it = dict.begin(); it != dict.end(); ++it) {
        if (name == "items") out.push_back(Json::array({it.key(), *it}));
        if (name == "keys") out.push_back(it.key());
        if (name == "values") out.push_back(*it);
      }
      return Value(std::move(out));
    });
  }
  if (name == "get") {
    return Value::make_function("dict.get", [dict](const Args& args, const Kwargs& kwargs) {
      check_arguments("dict.get()", args, kwargs, 2, {});
      if (args.empty()) raise("dict.get() needs a key");
      if (args[0].is_string()) {
        auto it = dict.find(args[0].data().get<std::string>());
        if (it != dict.end()) return Value(*it);
      }
      return args.size() > 1 ? args[1] : Value(Json(nullptr));
    });
  }
  return Value::undefined(name);
}

// Looks up a dotted attribute path ("function.name") as selectattr does.
Value lookup_path(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (current.is_undefined()) return current;
    current = get_item(current, Value(Json(part)));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return current;
}

Json to_list(const std::vector<Value>& items) {
  Json out = Json::array();
  for (const Value& item : items) {
    if (!item.is_data()) raise("a list can hold only data values, got " + type_name(item));
    out.push_back(item.data());
  }
  return out;
}

Value filter_select(const std::string& name, const Value& input, const Args& args) {
  const bool by_attribute = name == "selectattr" || name == "rejectattr";
  const bool keep_matches = name == "select" || name == "selectattr";
  size_t next_arg = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.empty()) raise(name + " needs an attribute name");
    attribute = require_string(args[next_arg++], name.c_str());
  }
  std::string test;
  if (next_arg < args.size()) test = require_string(args[next_arg++], name.c_str());
  const Args test_args(args.begin() + static_cast<std::ptrdiff_t>(next_arg), args.end());
  std::vector<Value> kept;
  for (const Value& item : iterate(input)) {
    const Value subject = by_attribute ? lookup_path(item, attribute) : item;
    const bool matched = test.empty() ? is_truthy(subject) : apply_test(test, subject, test_args);
    if (matched == keep_matches) kept.push_back(item);
  }
  return Value(to_list(kept));
}

Value filter_map(const Value& input, const Args& args, const Kwargs& kwargs) {
  const Value attribute = argument({}, kwargs, 0, "attribute");
  std::vector<Value> mapped;
  for (const Value& item : iterate(input)) {
    if (!attribute.is_undefined()) {
      Value value = lookup_path(item, require_string(attribute, "map"));
      if (value.is_undefined()) value = argument({}, kwargs, 0, "default");
      mapped.push_back(value.is_undefined() ? Value(Json(nullptr)) : value);
    } else {
      if (args.empty()) raise("map needs a filter name or attribute=");
      const Args filter_args(args.begin() + 1, args.end());
      mapped.push_back(apply_filter(require_string(args[0], "map"), item, filter_args, {}));
    }
  }
  return Value(to_list(mapped));
}

Value filter_tojson(const Value& input, const Args& args, const Kwargs& kwargs) {
  // transformers' tojson takes ensure_ascii first, so only keywords are
  // accepted here, and only the ones this implementation honours.
  check_arguments("tojson", args, kwargs, 0, {"indent"});
  const Value indent = argument({}, kwargs, 0, "indent");
  if (!input.is_data()) raise("tojson: object of type " + type_name(input) + " is not JSON serializable");
  const int indent_width = indent.is_undefined() || indent.is_null() ? -1 : static_cast<int>(require_int(indent, "tojson indent"));
  return Value(Json(to_json_text(input.data(), indent_width)));
}

Value filter_length(const Value& input) {
  if (input.is_undefined()) return Value(Json(0));
  if (input.is_string()) return Value(Json(static_cast<int64_t>(code_point_offsets(input.data().get_ref<const std::string&>()).size() - 1)));
  if (input.is_array() || input.is_object()) return Value(Json(static_cast<int64_t>(input.data().size())));
  raise("object of type '" + type_name(input) + "' has no len()");
}

Value filter_join(const Value& input, const Args& args, const Kwargs& kwargs) {
  check_arguments("join", args, kwargs, 2, {"d", "attribute"});
  const Value separator = argument(args, kwargs, 0, "d");
  const Value attribute = argument(args, kwargs, 1, "attribute");
  const std::string sep = separator.is_undefined() ? "" : require_string(separator, "join");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(input)) {
    if (!first) out += sep;
    first = false;
    out += to_python_str(attribute.is_undefined() ? item : lookup_path(item, require_string(attribute, "join")));
  }
  return Value(Json(out));
}

Value filter_number(const std::string& name, const Value& input, const Args& args) {
  const Value fallback = args.empty() ? Value(name == "int" ? Json(0) : Json(0.0)) : args[0];
  if (input.is_number() || (input.is_data() && input.data().is_boolean())) {
    const double number = input.data().get<double>();
    return name == "int" ? Value(Json(static_cast<int64_t>(number))) : Value(Json(number));
  }
  if (input.is_string()) {
    const std::string text = strip(input.data().get<std::string>(), Value::undefined(), true, true);
    char* end = nullptr;
    const double number = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size()) {
      return name == "int" ? Value(Json(static_cast<int64_t>(number))) : Value(Json(number));
    }
  }
  return fallback;
}

}  // namespace

std::vector<Value> iterate(const Value& value) {
  std::vector<Value> items;
  if (value.is_undefined()) return items;
  if (value.is_array()) {
    for (const Json& item : value.data()) items.emplace_back(item);
  } else if (value.is_object()) {
    for (auto it = value.data().begin(); it != value.data().end(); ++it) items.emplace_back(Json(it.key()));
  } else if (value.is_string()) {
    const std::string& text = value.data().get_ref<const std::string&>();
    const std::vector<size_t> offsets = code_point_offsets(text);
    for (size_t i = 0; i + 1 < offsets.size(); ++i) items.emplace_back(Json(text.substr(offsets[i], offsets[i + 1] - offsets[i])));
  } else {
    raise("'" + type_name(value) + "' object is not iterable");
  }
  return items;
}

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) raise("'" + object.undefined_name() + "' is undefined, so it has no attribute '" + name + "'");
  if (object.is_namespace()) {
    const Json& fields = object.namespace_fields();
    auto it = fields.find(name);
    return it == fields.end() ? Value::undefined(name) : Value(*it);
  }
  if (object.is_string()) return bind_string_method(object.data().get_ref<const std::string&>(), name);
  if (object.is_object()) {
    Value method = bind_dict_method(object.data(), name);
    if (!method.is_undefined()) return method;
    auto it = object.data().find(name);
    return it == object.data().end() ? Value::undefined(name) : Value(*it);
  }
  return Value::undefined(name);
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) raise("'" + object.undefined_name() + "' is undefined, so it cannot be subscripted");
  if (object.is_object() && key.is_string()) {
    auto it = object.data().find(key.data().get<std::string>());
    if (it != object.data().end()) return Value(*it);
  }
  if ((object.is_array() || object.is_string()) && key.is_integer()) {
    int64_t index = key.data().get<int64_t>();
    if (object.is_array()) {
      const int64_t size = static_cast<int64_t>(object.data().size());
      if (index < 0) index += size;
      if (index < 0 || index >= size) return Value::undefined("[" + std::to_string(key.data().get<int64_t>()) + "]");
      return Value(object.data()[static_cast<size_t>(index)]);
    }
    const std::string& text = object.data().get_ref<const std::string&>();
    const std::vector<size_t> offsets = code_point_offsets(text);
    const int64_t size = static_cast<int64_t>(offsets.size()) - 1;
    if (index < 0) index += size;
    if (index < 0 || index >= size) return Value::undefined("[" + std::to_string(key.data().get<int64_t>()) + "]");
    return Value(Json(text.substr(offsets[static_cast<size_t>(index)], offsets[static_cast<size_t>(index) + 1] - offsets[static_cast<size_t>(index)])));
  }
  if (key.is_string()) return get_attribute(object, key.data().get<std::string>());
  return Value::undefined(to_python_str(key));
}

Value get_slice(const Value& object, const Value& start_value, const Value& stop_value, const Value& step_value) {
  if (!object.is_array() && !object.is_string()) raise("cannot slice an object of type '" + type_name(object) + "'");
  auto optional_int = [](const Value& value, int64_t fallback) {
    return value.is_undefined() || value.is_null() ? fallback : require_int(value, "slice");
  };
  const int64_t step = optional_int(step_value, 1);
  if (step == 0) raise("slice step cannot be zero");

  std::vector<size_t> offsets;
  int64_t size = 0;
  if (object.is_array()) {
    size = static_cast<int64_t>(object.data().size());
  } else {
    offsets = code_point_offsets(object.data().get_ref<const std::string&>());
    size = static_cast<int64_t>(offsets.size()) - 1;
  }
  // Python's slice.indices(): clamp into range, counting negatives from the end.
  auto clamp = [&](int64_t index) {
    if (index < 0) index += size;
    if (step > 0) return std::clamp<int64_t>(index, 0, size);
    return std::clamp<int64_t>(index, -1, size - 1);
  };
  int64_t start = step > 0 ? 0 : size - 1;
  if (!start_value.is_undefined() && !start_value.is_null()) start = clamp(optional_int(start_value, 0));
  int64_t stop = step > 0 ? size : -1;
  if (!stop_value.is_undefined() && !stop_value.is_null()) stop = clamp(optional_int(stop_value, 0));

  std::vector<int64_t> picked;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) picked.push_back(i);
  if (object.is_array()) {
    Json out = Json::array();
    for (int64_t i : picked) out.push_back(object.data()[static_cast<size_t>(i)]);
    return Value(std::move(out));
  }
  const std::string& text = object.data().get_ref<const std::string&>();
  std::string out;
  for (int64_t i : picked) out += text.substr(offsets[static_cast<size_t>(i)], offsets[static_cast<size_t>(i) + 1] - offsets[static_cast<size_t>(i)]);
  return Value(Json(out));
}

Value apply_filter(const std::string& name, const Value& input, const Args& args, const Kwargs& kwargs) {
  if (name == "trim") return Value(Json(strip(to_python_str(input), argument(args, kwargs, 0, "chars"), true, true)));
  if (name == "length" || name == "count") return filter_length(input);
  if (name == "upper") return Value(Json(to_upper(to_python_str(input))));
  if (name == "lower") return Value(Json(to_lower(to_python_str(input))));
  if (name == "capitalize") return Value(Json(capitalize(to_python_str(input))));
  if (name == "title") return Value(Json(title_case(to_python_str(input))));
  if (name == "string") return Value(Json(to_python_str(input)));
  if (name == "safe") return input;
  if (name == "default" || name == "d") {
    check_arguments("default", args, kwargs, 2, {"default_value", "boolean"});
    const Value fallback = argument(args, kwargs, 0, "default_value");
    const bool boolean = is_truthy(argument(args, kwargs, 1, "boolean"));
    if (input.is_undefined() || (boolean && !is_truthy(input))) return fallback.is_undefined() ? Value(Json("")) : fallback;
    return input;
  }
  if (name == "tojson") return filter_tojson(input, args, kwargs);
  if (name == "join") return filter_join(input, args, kwargs);
  if (name == "first" || name == "last") {
    std::vector<Value> items = iterate(input);
    if (items.empty()) return Value::undefined(name);
    return name == "first" ? items.front() : items.back();
  }
  if (name == "list") return Value(to_list(iterate(input)));
  if (name == "items") {
    if (input.is_undefined()) return Value(Json::array());
    if (!input.is_object()) raise("items expects a dict, got " + type_name(input));
    return get_attribute(input, "items").function().call({}, {});
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") return filter_select(name, input, args);
  if (name == "map") return filter_map(input, args, kwargs);
  if (name == "unique") {
    std::vector<Value> unique;
    for (const Value& item : iterate(input)) {
      if (std::none_of(unique.begin(), unique.end(), [&](const Value& seen) { return values_equal(seen, item); })) unique.push_back(item);
    }
    return Value(to_list(unique));
  }
  if (name == "reverse") {
    std::vector<Value> items = iterate(input);
    std::reverse(items.begin(), items.end());
    if (input.is_string()) {
      std::string out;
      for (const Value& item : items) out += item.data().get<std::string>();
      return Value(Json(out));
    }
    return Value(to_list(items));
  }
  if (name == "replace") {
    if (args.size() < 2) raise("replace needs the old and new strings");
    const int64_t count = args.size() > 2 ? require_int(args[2], "replace") : -1;
    return Value(Json(replace_all(to_python_str(input), require_string(args[0], "replace"), require_string(args[1], "replace"), count)));
  }
  if (name == "int" || name == "float") return filter_number(name, input, args);
  if (name == "abs") {
    if (input.is_integer()) return Value(Json(std::llabs(input.data().get<int64_t>())));
    if (input.is_number()) return Value(Json(std::abs(input.data().get<double>())));
    raise("abs expects a number, got " + type_name(input));
  }
  raise("unknown filter '" + name + "'");
}

bool apply_test(const std::string& name, const Value& input, const Args& args) {
  auto operand = [&]() -> const Value& {
    if (args.empty()) raise("test '" + name + "' needs an argument");
    return args[0];
  };
  const Json& data = input.data();
  if (name == "defined") return !input.is_undefined();
  if (name == "undefined") return input.is_undefined();
  if (name == "none") return input.is_null();
  if (name == "string") return input.is_string();
  if (name == "mapping") return input.is_object();
  if (name == "iterable") return input.is_undefined() || input.is_array() || input.is_object() || input.is_string();
  if (name == "sequence") return input.is_undefined() || input.is_array() || input.is_object() || input.is_string();
  if (name == "number") return input.is_data() && (data.is_number() || data.is_boolean());
  if (name == "integer") return input.is_integer();
  if (name == "float") return input.is_data() && data.is_number_float();
  if (name == "boolean") return input.is_data() && data.is_boolean();
  if (name == "true") return input.is_data() && data.is_boolean() && data.get<bool>();
  if (name == "false") return input.is_data() && data.is_boolean() && !data.get<bool>();
  if (name == "callable") return input.is_function();
  if (name == "lower" || name == "upper") {
    if (!input.is_string()) return false;
    const std::string& text = data.get_ref<const std::string&>();
    return text == (name == "lower" ? to_lower(text) : to_upper(text));
  }
  if (name == "odd" || name == "even") return (require_int(input, name.c_str()) % 2 != 0) == (name == "odd");
  if (name == "divisibleby") {
    const int64_t divisor = require_int(operand(), "divisibleby");
    if (divisor == 0) raise("divisibleby: division by zero");
    return require_int(input, "divisibleby") % divisor == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return values_equal(input, operand());
  if (name == "ne" || name == "!=") return !values_equal(input, operand());
  if (name == "in") {
    const Value& container = operand();
    if (container.is_string()) return container.data().get_ref<const std::string&>().find(require_string(input, "in")) != std::string::npos;
    for (const Value& item : iterate(container)) {
      if (values_equal(item, input)) return true;
    }
    return false;
  }
  if (name == "lt" || name == "<" || name == "le" || name == "<=" || name == "gt" || name == ">" || name == "ge" || name == ">=") {
    const Value& other = operand();
    if (!input.is_number() || !other.is_number()) raise("test '" + name + "' compares numbers only");
    const double a = data.get<double>();
    const double b = other.data().get<double>();
    if (name == "lt" || name == "<") return a < b;
    if (name == "le" || name == "<=") return a <= b;
    if (name == "gt" || name == ">") return a > b;
    return a >= b;
  }
  raise("unknown test '" + name + "'");
}

std::vector<std::pair<std::string, Value>> global_functions() {
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("raise_exception", Value::make_function("raise_exception", [](const Args& args, const Kwargs&) -> Value {
    throw TemplateRaised{args.empty() ? std::string() : to_python_str(args[0])};
  }));
  globals.emplace_back("strftime_now", Value::make_function("strftime_now", [](const Args& args, const Kwargs& kwargs) {
    check_arguments("strftime_now()", args, kwargs, 1, {});
    const std::string format = require_string(argument(args, kwargs, 0, "format"), "strftime_now()");
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char buffer[512];
    const size_t length = std::strftime(buffer, sizeof(buffer), format.c_str(), &local);
    if (length == 0 && !format.empty()) raise("strftime_now(): format '" + format + "' gives an empty or too long result");
    return Value(Json(std::string(buffer, length)));
  }));
  globals.emplace_back("namespace", Value::make_function("namespace", [](const Args& args, const Kwargs& kwargs) {
    Json fields = Json::object();
    for (const Value& arg : args) {
      if (!arg.is_object()) raise("namespace() takes keyword arguments or a dict, got " + type_name(arg));
      for (auto it = arg.data().begin(); it != arg.data().end(); ++it) fields[it.key()] = *it;
    }
    for (const auto& [key, value] : kwargs) {
      if (!value.is_data()) raise("namespace(): " + key + " must be a data value, got " + type_name(value));
      fields[key] = value.data();
    }
    return Value::make_namespace(std::move(fields));
  }));
  globals.emplace_back("range", Value::make_function("range", [](const Args& args, const Kwargs& kwargs) {
    check_arguments("range()", args, kwargs, 3, {});
    if (args.empty()) raise("range() needs at least one argument");
    const int64_t start = args.size() > 1 ? require_int(args[0], "range()") : 0;
    const int64_t stop = require_int(args.size() > 1 ? args[1] : args[0], "range()");
    const int64_t step = args.size() > 2 ? require_int(args[2], "range()") : 1;
    if (step == 0) raise("range() step cannot be zero");
    Json out = Json::array();
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (static_cast<int64_t>(out.size()) >= kMaxRangeItems) raise("range() would produce more than " + std::to_string(kMaxRangeItems) + " items");
      out.push_back(i);
    }
    return Value(std::move(out));
  }));
  return globals;
}

}  // namespace swiftkv::jinja
