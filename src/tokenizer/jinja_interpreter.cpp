#include "tokenizer/jinja_interpreter.h"

#include <cmath>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_lexer.h"

namespace swiftkv::jinja {

namespace {

[[noreturn]] void raise(const std::string& message) { throw EvalError{message}; }

enum class Flow { kNormal, kBreak, kContinue };

bool is_int_like(const Value& value) { return value.is_data() && (value.data().is_number_integer() || value.data().is_boolean()); }

int64_t as_int(const Value& value) {
  return value.data().is_boolean() ? (value.data().get<bool>() ? 1 : 0) : value.data().get<int64_t>();
}

bool is_numeric(const Value& value) { return value.is_data() && (value.data().is_number() || value.data().is_boolean()); }

double as_double(const Value& value) {
  return value.data().is_boolean() ? (value.data().get<bool>() ? 1.0 : 0.0) : value.data().get<double>();
}

// Python's floor division and modulo round toward negative infinity.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t quotient = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --quotient;
  return quotient;
}

Value repeat(const Value& sequence, int64_t count) {
  if (count <= 0) return sequence.is_string() ? Value(Json("")) : Value(Json::array());
  const size_t unit = sequence.is_string() ? sequence.data().get_ref<const std::string&>().size() : sequence.data().dump().size();
  if (unit * static_cast<size_t>(count) > kMaxOutputBytes) raise("repetition would exceed the " + std::to_string(kMaxOutputBytes) + "-byte limit");
  if (sequence.is_string()) {
    std::string out;
    for (int64_t i = 0; i < count; ++i) out += sequence.data().get_ref<const std::string&>();
    return Value(Json(out));
  }
  Json out = Json::array();
  for (int64_t i = 0; i < count; ++i) {
    for (const Json& item : sequence.data()) out.push_back(item);
  }
  return Value(std::move(out));
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value(Json(a.data().get<std::string>() + b.data().get<std::string>()));
    if (a.is_array() && b.is_array()) {
      Json out = a.data();
      for (const Json& item : b.data()) out.push_back(item);
      return Value(std::move(out));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_array()) && is_int_like(b)) return repeat(a, as_int(b));
    if ((b.is_string() || b.is_array()) && is_int_like(a)) return repeat(b, as_int(a));
  }
  if (!is_numeric(a) || !is_numeric(b)) {
    raise("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
  }
  const bool integers = is_int_like(a) && is_int_like(b);
  if ((op == "/" || op == "//" || op == "%") && as_double(b) == 0.0) raise("division by zero");
  if (integers && op != "/" && !(op == "**" && as_int(b) < 0)) {
    const int64_t x = as_int(a);
    const int64_t y = as_int(b);
    if (op == "+") return Value(Json(x + y));
    if (op == "-") return Value(Json(x - y));
    if (op == "*") return Value(Json(x * y));
    if (op == "//") return Value(Json(floor_div(x, y)));
    if (op == "%") return Value(Json(x - floor_div(x, y) * y));
    int64_t power = 1;
    for (int64_t i = 0; i < y && i < 64; ++i) power *= x;
    return Value(Json(power));
  }
  const double x = as_double(a);
  const double y = as_double(b);
  if (op == "+") return Value(Json(x + y));
  if (op == "-") return Value(Json(x - y));
  if (op == "*") return Value(Json(x * y));
  if (op == "/") return Value(Json(x / y));
  if (op == "//") return Value(Json(std::floor(x / y)));
  if (op == "%") return Value(Json(x - std::floor(x / y) * y));
  return Value(Json(std::pow(x, y)));
}

bool compare_order(const std::string& op, const Value& a, const Value& b) {
  int order = 0;
  if (is_numeric(a) && is_numeric(b)) {
    const double x = as_double(a);
    const double y = as_double(b);
    order = x < y ? -1 : (x > y ? 1 : 0);
  } else if (a.is_string() && b.is_string()) {
    order = a.data().get_ref<const std::string&>().compare(b.data().get_ref<const std::string&>());
  } else {
    raise("'" + op + "' is not supported between '" + type_name(a) + "' and '" + type_name(b) + "'");
  }
  if (op == "<") return order < 0;
  if (op == ">") return order > 0;
  if (op == "<=") return order <= 0;
  return order >= 0;
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) raise("'in <string>' requires a string as left operand, not " + type_name(item));
    return container.data().get_ref<const std::string&>().find(item.data().get_ref<const std::string&>()) != std::string::npos;
  }
  if (container.is_object()) return item.is_string() && container.data().contains(item.data().get<std::string>());
  if (container.is_array()) {
    for (const Json& element : container.data()) {
      if (values_equal(Value(element), item)) return true;
    }
    return false;
  }
  raise("argument of type '" + type_name(container) + "' is not iterable");
}

class Interpreter {
 public:
  explicit Interpreter(std::vector<std::pair<std::string, Value>> variables) {
    scopes_.emplace_back();
    for (auto& [name, value] : global_functions()) scopes_[0][name] = std::move(value);
    for (auto& [name, value] : variables) scopes_[0][name] = std::move(value);
  }

  std::string run(const Body& body) {
    render_body(body, out_);
    return std::move(out_);
  }

 private:
  Flow render_body(const Body& body, std::string& out) {
    for (const NodePtr& node : body) {
      const Flow flow = render_node(*node, out);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  Flow render_node(const Node& node, std::string& out) {
    switch (node.kind) {
      case Node::Kind::kText:
        append(out, node.text);
        return Flow::kNormal;
      case Node::Kind::kOutput:
        append(out, to_python_str(eval(*node.expr)));
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [condition, branch] : node.branches) {
          if (is_truthy(eval(*condition))) return render_body(branch, out);
        }
        return render_body(node.else_body, out);
      case Node::Kind::kFor:
        return render_for(node, out);
      case Node::Kind::kSet:
        assign(node, eval(*node.expr));
        return Flow::kNormal;
      case Node::Kind::kSetBlock: {
        std::string captured;
        render_body(node.body, captured);
        assign(node, Value(Json(captured)));
        return Flow::kNormal;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  Flow render_for(const Node& node, std::string& out) {
    std::vector<Value> items;
    wrap_errors(node.expr->pos, [&]() { items = iterate(eval(*node.expr)); });
    if (node.filter) {
      // A loop filter runs before the loop, so loop.index counts kept items.
      std::vector<Value> kept;
      for (Value& item : items) {
        scopes_.emplace_back();
        bind_targets(node, item);
        const bool keep = is_truthy(eval(*node.filter));
        scopes_.pop_back();
        if (keep) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) return render_body(node.else_body, out);

    const int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      if (++iterations_ > kMaxLoopIterations) {
        wrap_errors(node.pos, [] { raise("the template ran more than " + std::to_string(kMaxLoopIterations) + " loop iterations"); });
      }
      scopes_.emplace_back();
      bind_targets(node, items[static_cast<size_t>(i)]);
      Json loop = Json::object();
      loop["index"] = i + 1;
      loop["index0"] = i;
      loop["revindex"] = length - i;
      loop["revindex0"] = length - i - 1;
      loop["first"] = i == 0;
      loop["last"] = i == length - 1;
      loop["length"] = length;
      loop["depth"] = 1;
      loop["depth0"] = 0;
      scopes_.back()["loop"] = Value(std::move(loop));
      const Flow flow = render_body(node.body, out);
      scopes_.pop_back();
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  void bind_targets(const Node& node, const Value& item) {
    if (node.targets.size() == 1) {
      scopes_.back()[node.targets[0]] = item;
      return;
    }
    if (!item.is_array() || item.data().size() != node.targets.size()) {
      wrap_errors(node.pos, [&] {
        raise("cannot unpack " + to_python_str(item) + " into " + std::to_string(node.targets.size()) + " loop variables");
      });
    }
    for (size_t i = 0; i < node.targets.size(); ++i) scopes_.back()[node.targets[i]] = Value(item.data()[i]);
  }

  void assign(const Node& node, Value value) {
    const std::string& name = node.targets[0];
    if (node.attribute.empty()) {
      scopes_.back()[name] = std::move(value);
      return;
    }
    const Value target = lookup(name);
    wrap_errors(node.pos, [&] {
      if (!target.is_namespace()) raise("cannot set attribute '" + node.attribute + "' on '" + name + "', which is not a namespace()");
      if (!value.is_data()) raise("a namespace attribute must hold a data value, got " + type_name(value));
      target.namespace_fields()[node.attribute] = value.data();
    });
  }

  Value lookup(const std::string& name) const {
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
      auto it = scope->find(name);
      if (it != scope->end()) return it->second;
    }
    return Value::undefined(name);
  }

  void append(std::string& out, const std::string& text) {
    out += text;
    if (out.size() > kMaxOutputBytes) fail("chat template output exceeds the %zu-byte limit", kMaxOutputBytes);
  }

  // Runs `body`, turning built-in errors into swiftkv::Error at `pos`.
  template <typename Body>
  void wrap_errors(const SourcePos& pos, Body body) {
    try {
      body();
    } catch (const EvalError& error) {
      fail("chat template error at %s: %s", describe_position(pos).c_str(), error.message.c_str());
    } catch (const TemplateRaised& raised) {
      fail("chat template raised an exception at %s: %s", describe_position(pos).c_str(), raised.message.c_str());
    }
  }

  Value eval(const Expr& expr) {
    Value result;
    wrap_errors(expr.pos, [&] { result = eval_unwrapped(expr); });
    return result;
  }

  std::vector<Value> eval_operands(const Expr& expr, size_t first) {
    std::vector<Value> values;
    for (size_t i = first; i < expr.operands.size(); ++i) values.push_back(eval_unwrapped(*expr.operands[i]));
    return values;
  }

  Kwargs eval_kwargs(const Expr& expr) {
    Kwargs kwargs;
    for (const auto& [name, value] : expr.kwargs) kwargs.emplace_back(name, eval_unwrapped(*value));
    return kwargs;
  }

  Value eval_unwrapped(const Expr& expr) {
    switch (expr.kind) {
      case Expr::Kind::kLiteral:
        return Value(expr.literal);
      case Expr::Kind::kName:
        return lookup(expr.name);
      case Expr::Kind::kGetAttr:
        return get_attribute(eval_unwrapped(*expr.operands[0]), expr.name);
      case Expr::Kind::kGetItem:
        return get_item(eval_unwrapped(*expr.operands[0]), eval_unwrapped(*expr.operands[1]));
      case Expr::Kind::kSlice: {
        auto part = [&](size_t i) { return expr.operands[i] ? eval_unwrapped(*expr.operands[i]) : Value::undefined(); };
        return get_slice(eval_unwrapped(*expr.operands[0]), part(1), part(2), part(3));
      }
      case Expr::Kind::kCall: {
        const Value callee = eval_unwrapped(*expr.operands[0]);
        if (!callee.is_function()) {
          raise(callee.is_undefined() ? "'" + callee.undefined_name() + "' is undefined and cannot be called" : "'" + type_name(callee) + "' object is not callable");
        }
        return callee.function().call(eval_operands(expr, 1), eval_kwargs(expr));
      }
      case Expr::Kind::kFilter:
        return apply_filter(expr.name, eval_unwrapped(*expr.operands[0]), eval_operands(expr, 1), eval_kwargs(expr));
      case Expr::Kind::kTest:
        return Value(Json(apply_test(expr.name, eval_unwrapped(*expr.operands[0]), eval_operands(expr, 1)) != expr.negated));
      case Expr::Kind::kUnary:
        return eval_unary(expr);
      case Expr::Kind::kBinary:
        return eval_binary(expr);
      case Expr::Kind::kTernary:
        if (is_truthy(eval_unwrapped(*expr.operands[0]))) return eval_unwrapped(*expr.operands[1]);
        return expr.operands[2] ? eval_unwrapped(*expr.operands[2]) : Value::undefined();
      case Expr::Kind::kList: {
        Json list = Json::array();
        for (const ExprPtr& item : expr.operands) {
          Value value = eval_unwrapped(*item);
          if (!value.is_data()) raise("a list can hold only data values, got " + type_name(value));
          list.push_back(value.data());
        }
        return Value(std::move(list));
      }
      case Expr::Kind::kDict: {
        Json dict = Json::object();
        for (size_t i = 0; i + 1 < expr.operands.size(); i += 2) {
          Value key = eval_unwrapped(*expr.operands[i]);
          Value value = eval_unwrapped(*expr.operands[i + 1]);
          if (!key.is_string()) raise("dict keys must be strings here, got " + type_name(key));
          if (!value.is_data()) raise("a dict can hold only data values, got " + type_name(value));
          dict[key.data().get<std::string>()] = value.data();
        }
        return Value(std::move(dict));
      }
    }
    raise("unhandled expression");
  }

  Value eval_unary(const Expr& expr) {
    const Value operand = eval_unwrapped(*expr.operands[0]);
    if (expr.name == "not") return Value(Json(!is_truthy(operand)));
    if (!is_numeric(operand)) raise("bad operand type for unary " + expr.name + ": '" + type_name(operand) + "'");
    if (expr.name == "+") return operand;
    if (is_int_like(operand)) return Value(Json(-as_int(operand)));
    return Value(Json(-as_double(operand)));
  }

  Value eval_binary(const Expr& expr) {
    const std::string& op = expr.name;
    const Value left = eval_unwrapped(*expr.operands[0]);
    // `and` and `or` short-circuit and return an operand, as in Python.
    if (op == "and") return is_truthy(left) ? eval_unwrapped(*expr.operands[1]) : left;
    if (op == "or") return is_truthy(left) ? left : eval_unwrapped(*expr.operands[1]);
    const Value right = eval_unwrapped(*expr.operands[1]);
    if (op == "==") return Value(Json(values_equal(left, right)));
    if (op == "!=") return Value(Json(!values_equal(left, right)));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") return Value(Json(compare_order(op, left, right)));
    if (op == "in") return Value(Json(contains(right, left)));
    if (op == "not in") return Value(Json(!contains(right, left)));
    if (op == "~") {
      std::string text = to_python_str(left) + to_python_str(right);
      if (text.size() > kMaxOutputBytes) raise("string concatenation exceeds the output limit");
      return Value(Json(std::move(text)));
    }
    if (op == "+" && (left.is_undefined() || right.is_undefined())) {
      raise("'" + (left.is_undefined() ? left.undefined_name() : right.undefined_name()) + "' is undefined");
    }
    return arithmetic(op, left, right);
  }

  std::vector<std::unordered_map<std::string, Value>> scopes_;
  std::string out_;
  int64_t iterations_ = 0;
};

}  // namespace

std::string render_template(const Body& body, std::vector<std::pair<std::string, Value>> variables) {
  return Interpreter(std::move(variables)).run(body);
}

}  // namespace swiftkv::jinja
