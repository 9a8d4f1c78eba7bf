// Syntax tree of a Jinja2 chat template and the parser that builds it.
// The lexer applies the Hugging Face settings trim_blocks=True and
// lstrip_blocks=True and the `-`/`+` whitespace-control marks, so the tree's
// text nodes hold exactly the text that renders.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace swiftkv::jinja {

// 1-based line and column in the template source.
struct SourcePos {
  int line = 1;
  int column = 1;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,   // literal
    kName,      // name
    kGetAttr,   // operands[0].name
    kGetItem,   // operands[0][operands[1]]
    kSlice,     // operands[0][operands[1]:operands[2]:operands[3]], parts may be null
    kCall,      // operands[0](operands[1:], kwargs)
    kFilter,    // operands[0] | name(operands[1:], kwargs)
    kTest,      // operands[0] is [not] name(operands[1:])
    kUnary,     // name ("not", "-", "+") applied to operands[0]
    kBinary,    // operands[0] name operands[1]
    kTernary,   // operands[1] if operands[0] else operands[2] (may be null)
    kList,      // [operands...] or a tuple
    kDict,      // {operands[0]: operands[1], ...}
  };
  Kind kind;
  SourcePos pos;
  Json literal;
  std::string name;
  std::vector<ExprPtr> operands;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // `is not` tests
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kBreak, kContinue };
  Kind kind;
  SourcePos pos;
  std::string text;                 // kText
  ExprPtr expr;                     // kOutput, kSet value, kFor iterable
  // kIf: one (condition, body) pair per if/elif, then else_body.
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;                        // kFor and kSetBlock body
  Body else_body;                   // kIf else, kFor else
  std::vector<std::string> targets; // kFor loop variables, kSet/kSetBlock name
  std::string attribute;            // kSet `ns.attribute = ...`
  ExprPtr filter;                   // kFor `if` condition
};

// Parses `source`. Throws swiftkv::Error with line and column for syntax
// errors, unknown tags, filters and tests, and nesting past the depth limit.
Body parse_template(const std::string& source);

// Whether the interpreter implements the filter or test of that name.
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

}  // namespace swiftkv::jinja
