// Recursive-descent parser for the Jinja2 subset that chat templates use.
// Operator precedence, lowest first: the ternary, or, and, not, comparisons
// and `in`, + and -, ~, * / // %, **, unary minus, then postfix access,
// calls, filters and tests. Filters bind tighter than `+`, so
// `'a' + x | trim` trims only x, as in Jinja2.
#include <set>

#include "core/error.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"

namespace swiftkv::jinja {

namespace {

// Deep enough for any real template, shallow enough that a hostile template
// cannot exhaust the stack.
constexpr int kMaxNestingDepth = 200;

const std::set<std::string>& known_filters() {
  static const std::set<std::string> names = {
      "abs",       "capitalize", "count",  "d",       "default", "first",  "float",  "int",
      "items",     "join",       "last",   "length",  "list",    "lower",  "map",    "reject",
      "rejectattr", "replace",   "reverse", "safe",   "select",  "selectattr", "string", "title",
      "tojson",    "trim",       "unique", "upper"};
  return names;
}

const std::set<std::string>& known_tests() {
  static const std::set<std::string> names = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "even", "false", "float",
      "ge",      "gt",       "in",      "integer",     "iterable", "le", "lower", "lt", "mapping",
      "ne",      "none",     "number",  "odd",         "sequence", "string", "true", "undefined",
      "upper",   "==",       "!=",      "<",           "<=",       ">",  ">="};
  return names;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (peek().kind != Token::Kind::kEnd) error_at(peek(), "unexpected tag");
    return body;
  }

 private:
  // ---- Template structure ----

  // Parses nodes until a block tag whose name is in `stop_tags` (left
  // unconsumed) or the end of the template.
  Body parse_body(const std::set<std::string>& stop_tags) {
    Body body;
    while (true) {
      const Token& token = peek();
      if (token.kind == Token::Kind::kEnd) {
        if (!stop_tags.empty()) error_at(token, "unexpected end of template, expected '{% " + *stop_tags.rbegin() + " %}'");
        return body;
      }
      if (token.kind == Token::Kind::kText) {
        auto node = make_node(Node::Kind::kText, token);
        node->text = token.text;
        body.push_back(std::move(node));
        ++index_;
      } else if (token.kind == Token::Kind::kVariableBegin) {
        ++index_;
        auto node = make_node(Node::Kind::kOutput, token);
        node->expr = parse_expression();
        expect(Token::Kind::kVariableEnd, "'}}'");
        body.push_back(std::move(node));
      } else if (token.kind == Token::Kind::kBlockBegin) {
        const Token& tag = peek(1);
        if (tag.kind == Token::Kind::kName && stop_tags.count(tag.text)) return body;
        ++index_;
        body.push_back(parse_block_tag());
      } else {
        error_at(token, "unexpected token '" + token.text + "'");
      }
    }
  }

  NodePtr parse_block_tag() {
    DepthGuard guard(*this);
    const Token& tag = peek();
    if (tag.kind != Token::Kind::kName) error_at(tag, "expected a tag name after '{%'");
    ++index_;
    if (tag.text == "if") return parse_if(tag);
    if (tag.text == "for") return parse_for(tag);
    if (tag.text == "set") return parse_set(tag);
    if (tag.text == "break" || tag.text == "continue") {
      if (loop_depth_ == 0) error_at(tag, "'" + tag.text + "' outside a for loop");
      auto node = make_node(tag.text == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, tag);
      expect(Token::Kind::kBlockEnd, "'%}'");
      return node;
    }
    error_at(tag, "unknown or unsupported tag '" + tag.text + "'");
  }

  NodePtr parse_if(const Token& tag) {
    auto node = make_node(Node::Kind::kIf, tag);
    ExprPtr condition = parse_expression();
    expect(Token::Kind::kBlockEnd, "'%}'");
    while (true) {
      Body branch = parse_body({"elif", "else", "endif"});
      node->branches.emplace_back(std::move(condition), std::move(branch));
      ++index_;  // {%
      const std::string keyword = next().text;
      if (keyword == "elif") {
        condition = parse_expression();
        expect(Token::Kind::kBlockEnd, "'%}'");
        continue;
      }
      expect(Token::Kind::kBlockEnd, "'%}'");
      if (keyword == "else") {
        node->else_body = parse_body({"endif"});
        ++index_;
        ++index_;
        expect(Token::Kind::kBlockEnd, "'%}'");
      }
      return node;
    }
  }

  NodePtr parse_for(const Token& tag) {
    auto node = make_node(Node::Kind::kFor, tag);
    do {
      node->targets.push_back(expect_name("a loop variable name"));
    } while (accept_operator(","));
    const Token& in = next();
    if (in.kind != Token::Kind::kName || in.text != "in") error_at(in, "expected 'in' in a for tag");
    // The iterable stops before a loop filter `if`, so no ternary here.
    node->expr = parse_or();
    if (peek().kind == Token::Kind::kName && peek().text == "if") {
      ++index_;
      node->filter = parse_expression();
    }
    if (peek().kind == Token::Kind::kName && peek().text == "recursive") error_at(peek(), "recursive for loops are not supported");
    expect(Token::Kind::kBlockEnd, "'%}'");
    ++loop_depth_;
    node->body = parse_body({"else", "endfor"});
    --loop_depth_;
    ++index_;
    const std::string keyword = next().text;
    expect(Token::Kind::kBlockEnd, "'%}'");
    if (keyword == "else") {
      node->else_body = parse_body({"endfor"});
      ++index_;
      ++index_;
      expect(Token::Kind::kBlockEnd, "'%}'");
    }
    return node;
  }

  NodePtr parse_set(const Token& tag) {
    auto node = make_node(Node::Kind::kSet, tag);
    node->targets.push_back(expect_name("a variable name"));
    if (accept_operator(".")) node->attribute = expect_name("an attribute name");
    if (peek().kind == Token::Kind::kBlockEnd && node->attribute.empty()) {
      // {% set name %}...{% endset %} captures the rendered body.
      ++index_;
      node->kind = Node::Kind::kSetBlock;
      node->body = parse_body({"endset"});
      index_ += 2;
      expect(Token::Kind::kBlockEnd, "'%}'");
      return node;
    }
    if (!accept_operator("=")) error_at(peek(), "expected '=' in a set tag");
    node->expr = parse_tuple_or_expression();
    expect(Token::Kind::kBlockEnd, "'%}'");
    return node;
  }

  // ---- Expressions ----

  ExprPtr parse_tuple_or_expression() {
    const Token& start = peek();
    ExprPtr first = parse_expression();
    if (!is_operator(peek(), ",")) return first;
    auto list = make_expr(Expr::Kind::kList, start);
    list->operands.push_back(std::move(first));
    while (accept_operator(",")) list->operands.push_back(parse_expression());
    return list;
  }

  ExprPtr parse_expression() {
    DepthGuard guard(*this);
    ExprPtr value = parse_or();
    while (peek().kind == Token::Kind::kName && peek().text == "if") {
      auto ternary = make_expr(Expr::Kind::kTernary, next());
      ternary->operands.push_back(parse_or());
      ternary->operands.push_back(std::move(value));
      if (peek().kind == Token::Kind::kName && peek().text == "else") {
        ++index_;
        ternary->operands.push_back(parse_expression());
      } else {
        ternary->operands.push_back(nullptr);
      }
      value = std::move(ternary);
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (peek().kind == Token::Kind::kName && peek().text == "or") {
      // Consume the operator before parsing the right side: C++ leaves the
      // order of argument evaluation unspecified.
      const Token& op = next();
      left = make_binary("or", op, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (peek().kind == Token::Kind::kName && peek().text == "and") {
      const Token& op = next();
      left = make_binary("and", op, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (peek().kind == Token::Kind::kName && peek().text == "not") {
      DepthGuard guard(*this);
      auto node = make_expr(Expr::Kind::kUnary, next());
      node->name = "not";
      node->operands.push_back(parse_not());
      return node;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr left = parse_math1();
    while (true) {
      const Token& token = peek();
      std::string op;
      if (token.kind == Token::Kind::kOperator &&
          (token.text == "==" || token.text == "!=" || token.text == "<" || token.text == ">" || token.text == "<=" || token.text == ">=")) {
        op = token.text;
        ++index_;
      } else if (token.kind == Token::Kind::kName && token.text == "in") {
        op = "in";
        ++index_;
      } else if (token.kind == Token::Kind::kName && token.text == "not" && peek(1).kind == Token::Kind::kName && peek(1).text == "in") {
        op = "not in";
        index_ += 2;
      } else {
        return left;
      }
      left = make_binary(op, token, std::move(left), parse_math1());
    }
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_operator(peek(), "+") || is_operator(peek(), "-")) {
      const Token& op = next();
      left = make_binary(op.text, op, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_operator(peek(), "~")) {
      const Token& op = next();
      left = make_binary("~", op, std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_operator(peek(), "*") || is_operator(peek(), "/") || is_operator(peek(), "//") || is_operator(peek(), "%")) {
      const Token& op = next();
      left = make_binary(op.text, op, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_operator(peek(), "**")) {
      const Token& op = next();
      left = make_binary("**", op, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    if (is_operator(peek(), "-") || is_operator(peek(), "+")) {
      const Token& op = next();
      auto node = make_expr(Expr::Kind::kUnary, op);
      node->name = op.text;
      node->operands.push_back(parse_unary(false));
      return with_filter ? parse_filters_and_tests(std::move(node)) : std::move(node);
    }
    ExprPtr node = parse_postfix(parse_primary());
    return with_filter ? parse_filters_and_tests(std::move(node)) : std::move(node);
  }

  ExprPtr parse_primary() {
    const Token& token = next();
    switch (token.kind) {
      case Token::Kind::kName: {
        if (token.text == "true" || token.text == "True") return make_literal(token, Json(true));
        if (token.text == "false" || token.text == "False") return make_literal(token, Json(false));
        if (token.text == "none" || token.text == "None") return make_literal(token, Json(nullptr));
        auto node = make_expr(Expr::Kind::kName, token);
        node->name = token.text;
        return node;
      }
      case Token::Kind::kString: {
        std::string text = token.text;
        // Adjacent string literals concatenate, as in Python.
        while (peek().kind == Token::Kind::kString) text += next().text;
        return make_literal(token, Json(text));
      }
      case Token::Kind::kInteger:
        try {
          return make_literal(token, Json(std::stoll(token.text)));
        } catch (const std::out_of_range&) {
          error_at(token, "integer literal " + token.text + " is out of range");
        }
      case Token::Kind::kFloat:
        return make_literal(token, Json(std::stod(token.text)));
      case Token::Kind::kOperator:
        if (token.text == "(") return parse_parenthesized(token);
        if (token.text == "[") return parse_list(token);
        if (token.text == "{") return parse_dict(token);
        break;
      default:
        break;
    }
    error_at(token, "unexpected " + describe(token) + " in an expression");
  }

  ExprPtr parse_parenthesized(const Token& open) {
    if (accept_operator(")")) return make_expr(Expr::Kind::kList, open);
    ExprPtr first = parse_expression();
    if (accept_operator(")")) return first;
    auto tuple = make_expr(Expr::Kind::kList, open);
    tuple->operands.push_back(std::move(first));
    while (accept_operator(",")) {
      if (is_operator(peek(), ")")) break;
      tuple->operands.push_back(parse_expression());
    }
    expect_operator(")");
    return tuple;
  }

  ExprPtr parse_list(const Token& open) {
    auto list = make_expr(Expr::Kind::kList, open);
    while (!accept_operator("]")) {
      if (!list->operands.empty()) {
        expect_operator(",");
        if (accept_operator("]")) break;
      }
      list->operands.push_back(parse_expression());
    }
    return list;
  }

  ExprPtr parse_dict(const Token& open) {
    auto dict = make_expr(Expr::Kind::kDict, open);
    while (!accept_operator("}")) {
      if (!dict->operands.empty()) {
        expect_operator(",");
        if (accept_operator("}")) break;
      }
      dict->operands.push_back(parse_expression());
      expect_operator(":");
      dict->operands.push_back(parse_expression());
    }
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const Token& token = peek();
      if (is_operator(token, ".")) {
        ++index_;
        const Token& attribute = next();
        if (attribute.kind != Token::Kind::kName && attribute.kind != Token::Kind::kInteger) error_at(attribute, "expected an attribute name after '.'");
        auto access = make_expr(attribute.kind == Token::Kind::kName ? Expr::Kind::kGetAttr : Expr::Kind::kGetItem, token);
        access->operands.push_back(std::move(node));
        if (attribute.kind == Token::Kind::kName) {
          access->name = attribute.text;
        } else {
          access->operands.push_back(make_literal(attribute, Json(std::stoll(attribute.text))));
        }
        node = std::move(access);
      } else if (is_operator(token, "[")) {
        ++index_;
        node = parse_subscript(token, std::move(node));
      } else if (is_operator(token, "(")) {
        ++index_;
        auto call = make_expr(Expr::Kind::kCall, token);
        call->operands.push_back(std::move(node));
        parse_call_arguments(*call);
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(const Token& open, ExprPtr object) {
    ExprPtr parts[3];
    int colons = 0;
    while (!is_operator(peek(), "]")) {
      if (accept_operator(":")) {
        if (++colons > 2) error_at(peek(), "too many ':' in a slice");
        continue;
      }
      if (parts[colons]) error_at(peek(), "expected ':' or ']' in a subscript");
      parts[colons] = parse_expression();
    }
    expect_operator("]");
    if (colons == 0) {
      if (!parts[0]) error_at(open, "empty subscript");
      auto item = make_expr(Expr::Kind::kGetItem, open);
      item->operands.push_back(std::move(object));
      item->operands.push_back(std::move(parts[0]));
      return item;
    }
    auto slice = make_expr(Expr::Kind::kSlice, open);
    slice->operands.push_back(std::move(object));
    for (auto& part : parts) slice->operands.push_back(std::move(part));
    return slice;
  }

  // Parses `(a, b, key=value)` after the opening parenthesis.
  void parse_call_arguments(Expr& call) {
    while (!accept_operator(")")) {
      if (call.operands.size() > 1 || !call.kwargs.empty()) {
        expect_operator(",");
        if (accept_operator(")")) break;
      }
      if (peek().kind == Token::Kind::kName && is_operator(peek(1), "=")) {
        std::string key = next().text;
        ++index_;
        call.kwargs.emplace_back(std::move(key), parse_expression());
      } else {
        if (!call.kwargs.empty()) error_at(peek(), "positional argument after a keyword argument");
        call.operands.push_back(parse_expression());
      }
    }
  }

  ExprPtr parse_filters_and_tests(ExprPtr node) {
    while (true) {
      if (is_operator(peek(), "|")) {
        ++index_;
        const Token& name = next();
        if (name.kind != Token::Kind::kName) error_at(name, "expected a filter name after '|'");
        if (!is_known_filter(name.text)) error_at(name, "unknown filter '" + name.text + "'");
        auto filter = make_expr(Expr::Kind::kFilter, name);
        filter->name = name.text;
        filter->operands.push_back(std::move(node));
        if (accept_operator("(")) parse_call_arguments(*filter);
        node = std::move(filter);
      } else if (peek().kind == Token::Kind::kName && peek().text == "is") {
        ++index_;
        auto test = make_expr(Expr::Kind::kTest, peek());
        if (peek().kind == Token::Kind::kName && peek().text == "not") {
          test->negated = true;
          ++index_;
        }
        const Token& name = next();
        // Names like `none` and operator-named tests (`==`) are both allowed.
        if (name.kind != Token::Kind::kName && name.kind != Token::Kind::kOperator) error_at(name, "expected a test name after 'is'");
        if (!is_known_test(name.text)) error_at(name, "unknown test '" + name.text + "'");
        test->name = name.text;
        test->operands.push_back(std::move(node));
        if (accept_operator("(")) {
          parse_call_arguments(*test);
        } else if (starts_test_argument(peek())) {
          // `is divisibleby 3` takes one argument without parentheses.
          test->operands.push_back(parse_postfix(parse_primary()));
        }
        node = std::move(test);
      } else {
        return node;
      }
    }
  }

  static bool starts_test_argument(const Token& token) {
    if (token.kind == Token::Kind::kString || token.kind == Token::Kind::kInteger || token.kind == Token::Kind::kFloat) return true;
    if (token.kind == Token::Kind::kName) {
      static const std::set<std::string> stop = {"else", "or", "and", "is", "in", "if", "not", "recursive"};
      return stop.count(token.text) == 0;
    }
    return token.kind == Token::Kind::kOperator && (token.text == "[" || token.text == "{");
  }

  // ---- Token helpers ----

  struct DepthGuard {
    explicit DepthGuard(Parser& parser) : parser_(parser) {
      if (++parser_.depth_ > kMaxNestingDepth) {
        parser_.error_at(parser_.peek(), "expression nests deeper than " + std::to_string(kMaxNestingDepth) + " levels");
      }
    }
    ~DepthGuard() { --parser_.depth_; }
    Parser& parser_;
  };

  const Token& peek(size_t ahead = 0) const {
    const size_t at = std::min(index_ + ahead, tokens_.size() - 1);
    return tokens_[at];
  }
  const Token& next() {
    const Token& token = peek();
    if (index_ < tokens_.size() - 1) ++index_;
    return token;
  }
  static bool is_operator(const Token& token, const char* op) { return token.kind == Token::Kind::kOperator && token.text == op; }
  bool accept_operator(const char* op) {
    if (!is_operator(peek(), op)) return false;
    ++index_;
    return true;
  }
  void expect_operator(const char* op) {
    if (!accept_operator(op)) error_at(peek(), std::string("expected '") + op + "', found " + describe(peek()));
  }
  void expect(Token::Kind kind, const char* what) {
    if (peek().kind != kind) error_at(peek(), std::string("expected ") + what + ", found " + describe(peek()));
    ++index_;
  }
  std::string expect_name(const char* what) {
    const Token& token = next();
    if (token.kind != Token::Kind::kName) error_at(token, std::string("expected ") + what + ", found " + describe(token));
    return token.text;
  }

  static std::string describe(const Token& token) {
    switch (token.kind) {
      case Token::Kind::kText: return "template text";
      case Token::Kind::kVariableBegin: return "'{{'";
      case Token::Kind::kVariableEnd: return "'}}'";
      case Token::Kind::kBlockBegin: return "'{%'";
      case Token::Kind::kBlockEnd: return "'%}'";
      case Token::Kind::kString: return "string literal";
      case Token::Kind::kEnd: return "end of template";
      default: return "'" + token.text + "'";
    }
  }

  [[noreturn]] void error_at(const Token& token, const std::string& message) const {
    fail("chat template syntax error at %s: %s", describe_position(token.pos).c_str(), message.c_str());
  }

  NodePtr make_node(Node::Kind kind, const Token& token) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->pos = token.pos;
    return node;
  }
  ExprPtr make_expr(Expr::Kind kind, const Token& token) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->pos = token.pos;
    return expr;
  }
  ExprPtr make_literal(const Token& token, Json value) {
    auto expr = make_expr(Expr::Kind::kLiteral, token);
    expr->literal = std::move(value);
    return expr;
  }
  ExprPtr make_binary(const std::string& op, const Token& token, ExprPtr left, ExprPtr right) {
    auto expr = make_expr(Expr::Kind::kBinary, token);
    expr->name = op;
    expr->operands.push_back(std::move(left));
    expr->operands.push_back(std::move(right));
    return expr;
  }

  std::vector<Token> tokens_;
  size_t index_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

bool is_known_filter(const std::string& name) { return known_filters().count(name) > 0; }
bool is_known_test(const std::string& name) { return known_tests().count(name) > 0; }

Body parse_template(const std::string& source) { return Parser(tokenize_template(source)).parse_all(); }

}  // namespace swiftkv::jinja
