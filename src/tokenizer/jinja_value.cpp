#include "tokenizer/jinja_value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace swiftkv::jinja {

bool is_truthy(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kNamespace:
    case Value::Kind::kFunction:
      return true;
    case Value::Kind::kData:
      break;
  }
  const Json& data = value.data();
  if (data.is_null()) return false;
  if (data.is_boolean()) return data.get<bool>();
  if (data.is_number_integer()) return data.get<int64_t>() != 0;
  if (data.is_number_float()) return data.get<double>() != 0.0;
  if (data.is_string()) return !data.get_ref<const std::string&>().empty();
  return !data.empty();
}

std::string format_python_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // Find the shortest %e form that reads back to the same double.
  char buffer[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*e", precision - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string text(buffer);
  const size_t e_pos = text.find('e');
  const int exponent = std::atoi(text.c_str() + e_pos + 1);
  std::string mantissa = text.substr(0, e_pos);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();

  std::string result = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      result += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      result += digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
    } else {
      result += digits.substr(0, static_cast<size_t>(exponent + 1)) + "." +
                digits.substr(static_cast<size_t>(exponent + 1));
    }
    return result;
  }
  result += digits.substr(0, 1);
  if (digits.size() > 1) result += "." + digits.substr(1);
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof(exponent_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return result + exponent_text;
}

namespace {

std::string format_number(const Json& data) {
  if (data.is_number_float()) return format_python_float(data.get<double>());
  if (data.is_number_unsigned()) return std::to_string(data.get<uint64_t>());
  return std::to_string(data.get<int64_t>());
}

// Python repr() of a str: single quotes unless the text holds a single quote
// and no double quote.
std::string repr_string(const std::string& text) {
  const bool use_double = text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = use_double ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

void append_json_string(const std::string& text, std::string& out) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_json(const Json& value, int indent, int depth, std::string& out) {
  if (value.is_null()) {
    out += "null";
  } else if (value.is_boolean()) {
    out += value.get<bool>() ? "true" : "false";
  } else if (value.is_number_float()) {
    const double number = value.get<double>();
    // json.dumps writes the non-finite floats as JavaScript names.
    if (std::isnan(number)) {
      out += "NaN";
    } else if (std::isinf(number)) {
      out += number > 0 ? "Infinity" : "-Infinity";
    } else {
      out += format_python_float(number);
    }
  } else if (value.is_number()) {
    out += format_number(value);
  } else if (value.is_string()) {
    append_json_string(value.get_ref<const std::string&>(), out);
  } else {
    const bool is_object = value.is_object();
    if (value.empty()) {
      out += is_object ? "{}" : "[]";
      return;
    }
    out += is_object ? '{' : '[';
    const std::string item_separator = indent < 0 ? ", " : ",";
    const std::string inner_newline = indent < 0 ? "" : "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ');
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += item_separator;
      first = false;
      out += inner_newline;
      if (is_object) {
        append_json_string(it.key(), out);
        out += ": ";
      }
      append_json(*it, indent, depth + 1, out);
    }
    if (indent >= 0) out += "\n" + std::string(static_cast<size_t>(indent * depth), ' ');
    out += is_object ? '}' : ']';
  }
}

}  // namespace

std::string to_python_repr(const Json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_number()) return format_number(value);
  if (value.is_string()) return repr_string(value.get_ref<const std::string&>());
  std::string out;
  if (value.is_array()) {
    out += '[';
    for (size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ", ";
      out += to_python_repr(value[i]);
    }
    out += ']';
    return out;
  }
  out += '{';
  bool first = true;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!first) out += ", ";
    first = false;
    out += repr_string(it.key()) + ": " + to_python_repr(*it);
  }
  out += '}';
  return out;
}

std::string to_python_str(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNamespace:
      return "<Namespace " + to_python_repr(value.namespace_fields()) + ">";
    case Value::Kind::kFunction:
      return "<function " + value.function().name + ">";
    case Value::Kind::kData:
      break;
  }
  if (value.is_string()) return value.data().get<std::string>();
  return to_python_repr(value.data());
}

std::string to_json_text(const Json& value, int indent) {
  std::string out;
  append_json(value, indent, 0, out);
  return out;
}

bool values_equal(const Value& a, const Value& b) {
  if (a.is_data() && b.is_data()) {
    const Json& x = a.data();
    const Json& y = b.data();
    if (x.is_number() && y.is_number()) {
      if (x.is_number_float() || y.is_number_float()) return x.get<double>() == y.get<double>();
      return x.get<int64_t>() == y.get<int64_t>();
    }
    // Python: True == 1 and False == 0.
    if (x.is_boolean() && y.is_number()) return (x.get<bool>() ? 1.0 : 0.0) == y.get<double>();
    if (y.is_boolean() && x.is_number()) return (y.get<bool>() ? 1.0 : 0.0) == x.get<double>();
    if (x.is_object() && y.is_object()) {
      if (x.size() != y.size()) return false;
      for (auto it = x.begin(); it != x.end(); ++it) {
        auto other = y.find(it.key());
        if (other == y.end() || !values_equal(Value(*it), Value(*other))) return false;
      }
      return true;
    }
    if (x.is_array() && y.is_array()) {
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!values_equal(Value(x[i]), Value(y[i]))) return false;
      }
      return true;
    }
    return x == y;
  }
  if (a.is_undefined() && b.is_undefined()) return true;
  if (a.is_namespace() && b.is_namespace()) return &a.namespace_fields() == &b.namespace_fields();
  return false;
}

std::string type_name(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined: return "undefined";
    case Value::Kind::kNamespace: return "namespace";
    case Value::Kind::kFunction: return "function";
    case Value::Kind::kData: break;
  }
  const Json& data = value.data();
  if (data.is_null()) return "NoneType";
  if (data.is_boolean()) return "bool";
  if (data.is_number_float()) return "float";
  if (data.is_number()) return "int";
  if (data.is_string()) return "str";
  if (data.is_array()) return "list";
  return "dict";
}

std::vector<size_t> code_point_offsets(std::string_view text) {
  std::vector<size_t> offsets;
  offsets.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size(); ++i) {
    // Continuation bytes (10xxxxxx) do not start a code point.
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) offsets.push_back(i);
  }
  offsets.push_back(text.size());
  return offsets;
}

}  // namespace swiftkv::jinja
