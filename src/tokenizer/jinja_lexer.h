// Token stream of a Jinja2 template: text between tags (already trimmed by
// the whitespace rules) and the expression tokens inside `{{ }}` and `{% %}`.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja_ast.h"

namespace swiftkv::jinja {

struct Token {
  enum class Kind {
    kText,
    kVariableBegin,  // {{
    kVariableEnd,    // }}
    kBlockBegin,     // {%
    kBlockEnd,       // %}
    kName,
    kString,
    kInteger,
    kFloat,
    kOperator,
    kEnd,
  };
  Kind kind;
  std::string text;  // text, name, operator, decoded string or number digits
  SourcePos pos;
};

// Splits `source` into tokens with trim_blocks and lstrip_blocks on, as
// transformers configures Jinja2. Comments are dropped. Throws swiftkv::Error
// for an unterminated tag, comment or string, or an unexpected character.
std::vector<Token> tokenize_template(const std::string& source);

// Formats "line L, column C" for error messages.
std::string describe_position(const SourcePos& pos);

}  // namespace swiftkv::jinja
