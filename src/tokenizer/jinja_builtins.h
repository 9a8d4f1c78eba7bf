// Jinja2 built-ins for chat templates: filters, tests, attribute and item
// access with Python's str and dict methods, and the global functions that
// transformers adds (raise_exception, strftime_now) next to Jinja2's own
// (namespace, range).
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace swiftkv::jinja {

// A runtime error without a position. The interpreter adds the line and
// column of the expression that raised it and rethrows swiftkv::Error.
struct EvalError {
  std::string message;
};

// Raised by the template's own `raise_exception(message)` call.
struct TemplateRaised {
  std::string message;
};

// Most items that `range()` may produce. Templates never need more, and
// the cap keeps a hostile template from allocating without bound.
constexpr int64_t kMaxRangeItems = 1'000'000;

Value apply_filter(const std::string& name, const Value& input, const Args& args, const Kwargs& kwargs);
bool apply_test(const std::string& name, const Value& input, const Args& args);

// `object.name`: Python attribute first (bound str and dict methods), then
// the dict key, as Jinja2's getattr does. Missing names give undefined.
Value get_attribute(const Value& object, const std::string& name);

// `object[key]`: the dict key or list/str index first, then the attribute.
Value get_item(const Value& object, const Value& key);

// `object[start:stop:step]` on a list or str, with Python's clamping rules.
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);

// The items a for loop visits: list items, dict keys or str code points.
std::vector<Value> iterate(const Value& value);

// Global names every render sees: raise_exception, strftime_now, namespace,
// range.
std::vector<std::pair<std::string, Value>> global_functions();

}  // namespace swiftkv::jinja
