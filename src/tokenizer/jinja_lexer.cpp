#include "tokenizer/jinja_lexer.h"

#include <cctype>
#include <cstring>

#include "core/error.h"

namespace swiftkv::jinja {

std::string describe_position(const SourcePos& pos) {
  return "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column);
}

namespace {

bool is_python_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void append_utf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(const std::string& source) : source_(source) {
    // Jinja2 drops one trailing newline unless keep_trailing_newline is set.
    if (!source_.empty() && source_.back() == '\n') source_.pop_back();
  }

  std::vector<Token> run() {
    bool line_starting = true;  // the previous tag ended at the start of a line
    while (pos_ < source_.size()) {
      const size_t tag = find_tag_start(pos_);
      std::string text = source_.substr(pos_, tag - pos_);
      const SourcePos text_pos = position_of(pos_);
      if (tag == source_.size()) {
        push(Token::Kind::kText, text, text_pos);
        break;
      }
      const char type = source_[tag + 1];
      const char mark = tag + 2 < source_.size() ? source_[tag + 2] : '\0';
      if (mark == '-') {
        while (!text.empty() && is_python_space(text.back())) text.pop_back();
      } else if (type != '{' && mark != '+') {
        strip_line_indent(text, line_starting);
      }
      push(Token::Kind::kText, text, text_pos);
      pos_ = tag + 2 + ((mark == '-' || mark == '+') ? 1 : 0);
      if (type == '#') {
        skip_comment(tag);
      } else {
        lex_tag(type, tag);
      }
      line_starting = pos_ > 0 && source_[pos_ - 1] == '\n';
    }
    push(Token::Kind::kEnd, "", position_of(source_.size()));
    return std::move(tokens_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    for (size_t i = from; i + 1 < source_.size(); ++i) {
      if (source_[i] == '{' && (source_[i + 1] == '{' || source_[i + 1] == '%' || source_[i + 1] == '#')) return i;
    }
    return source_.size();
  }

  // lstrip_blocks: drop spaces and tabs between the line start and a block tag
  // or comment when nothing else precedes the tag on its line.
  static void strip_line_indent(std::string& text, bool line_starting) {
    const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (line_start == 0 && !line_starting) return;
    if (line_start == text.size()) return;
    for (size_t i = line_start; i < text.size(); ++i) {
      if (!is_python_space(text[i])) return;
    }
    text.resize(line_start);
  }

  // Handles what follows a block or comment end: `-` strips all whitespace,
  // `+` keeps it, otherwise trim_blocks removes one newline.
  void finish_block_end(char mark) {
    if (mark == '-') {
      while (pos_ < source_.size() && is_python_space(source_[pos_])) ++pos_;
    } else if (mark != '+' && pos_ < source_.size() && source_[pos_] == '\n') {
      ++pos_;
    }
  }

  void skip_comment(size_t tag) {
    const size_t end = source_.find("#}", pos_);
    if (end == std::string::npos) {
      fail("chat template syntax error at %s: unterminated comment, add '#}'", describe_position(position_of(tag)).c_str());
    }
    const char mark = (end > pos_ && (source_[end - 1] == '-' || source_[end - 1] == '+')) ? source_[end - 1] : '\0';
    pos_ = end + 2;
    finish_block_end(mark);
  }

  void lex_tag(char type, size_t tag) {
    const bool is_block = type == '%';
    push(is_block ? Token::Kind::kBlockBegin : Token::Kind::kVariableBegin, "", position_of(tag));
    int bracket_depth = 0;
    while (true) {
      while (pos_ < source_.size() && is_python_space(source_[pos_])) ++pos_;
      if (pos_ >= source_.size()) {
        fail("chat template syntax error at %s: unterminated '%s' tag, add '%s'", describe_position(position_of(tag)).c_str(),
             is_block ? "{%" : "{{", is_block ? "%}" : "}}");
      }
      const char closer = is_block ? '%' : '}';
      const char c = source_[pos_];
      char mark = '\0';
      size_t close_at = pos_;
      if ((c == '-' || c == '+') && pos_ + 2 < source_.size() + 0 && source_[pos_ + 1] == closer && source_[pos_ + 2] == '}') {
        mark = c;
        close_at = pos_ + 1;
      }
      if (source_[close_at] == closer && close_at + 1 < source_.size() && source_[close_at + 1] == '}' &&
          (is_block || bracket_depth == 0)) {
        push(is_block ? Token::Kind::kBlockEnd : Token::Kind::kVariableEnd, "", position_of(pos_));
        pos_ = close_at + 2;
        if (is_block) {
          finish_block_end(mark);
        } else if (mark == '-') {
          while (pos_ < source_.size() && is_python_space(source_[pos_])) ++pos_;
        }
        return;
      }
      lex_expression_token(bracket_depth);
    }
  }

  void lex_expression_token(int& bracket_depth) {
    const SourcePos start = position_of(pos_);
    const char c = source_[pos_];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t end = pos_;
      while (end < source_.size() && (std::isalnum(static_cast<unsigned char>(source_[end])) || source_[end] == '_')) ++end;
      push(Token::Kind::kName, source_.substr(pos_, end - pos_), start);
      pos_ = end;
      return;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number(start);
      return;
    }
    if (c == '\'' || c == '"') {
      lex_string(start);
      return;
    }
    static const char* const kOperators[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                             "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"};
    for (const char* op : kOperators) {
      const size_t length = std::strlen(op);
      if (source_.compare(pos_, length, op) == 0) {
        if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++bracket_depth;
        if (op[0] == ')' || op[0] == ']' || op[0] == '}') --bracket_depth;
        push(Token::Kind::kOperator, op, start);
        pos_ += length;
        return;
      }
    }
    fail("chat template syntax error at %s: unexpected character '%c'", describe_position(start).c_str(), c);
  }

  void lex_number(const SourcePos& start) {
    size_t end = pos_;
    bool is_float = false;
    auto digits = [&]() {
      while (end < source_.size() && (std::isdigit(static_cast<unsigned char>(source_[end])) || source_[end] == '_')) ++end;
    };
    digits();
    if (end + 1 < source_.size() && source_[end] == '.' && std::isdigit(static_cast<unsigned char>(source_[end + 1]))) {
      is_float = true;
      ++end;
      digits();
    }
    if (end < source_.size() && (source_[end] == 'e' || source_[end] == 'E')) {
      size_t exponent = end + 1;
      if (exponent < source_.size() && (source_[exponent] == '+' || source_[exponent] == '-')) ++exponent;
      if (exponent < source_.size() && std::isdigit(static_cast<unsigned char>(source_[exponent]))) {
        is_float = true;
        end = exponent;
        digits();
      }
    }
    std::string text;
    for (size_t i = pos_; i < end; ++i) {
      if (source_[i] != '_') text += source_[i];
    }
    push(is_float ? Token::Kind::kFloat : Token::Kind::kInteger, text, start);
    pos_ = end;
  }

  // Decodes a string literal with Python escapes (\n, \t, \xHH, \uXXXX, ...);
  // an unknown escape keeps its backslash, as Python does.
  void lex_string(const SourcePos& start) {
    const char quote = source_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= source_.size()) fail("chat template syntax error at %s: unterminated string literal", describe_position(start).c_str());
      const char c = source_[pos_++];
      if (c == quote) break;
      if (c != '\\' || pos_ >= source_.size()) {
        value += c;
        continue;
      }
      const char escape = source_[pos_++];
      switch (escape) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case 'a': value += '\a'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;  // a backslash before a newline joins the lines
        case 'x':
        case 'u':
        case 'U': {
          const size_t width = escape == 'x' ? 2 : (escape == 'u' ? 4 : 8);
          if (pos_ + width > source_.size()) fail("chat template syntax error at %s: truncated \\%c escape", describe_position(start).c_str(), escape);
          const std::string hex = source_.substr(pos_, width);
          for (char h : hex) {
            if (!std::isxdigit(static_cast<unsigned char>(h))) fail("chat template syntax error at %s: invalid \\%c escape", describe_position(start).c_str(), escape);
          }
          append_utf8(static_cast<uint32_t>(std::stoul(hex, nullptr, 16)), value);
          pos_ += width;
          break;
        }
        default:
          value += '\\';
          value += escape;
      }
    }
    push(Token::Kind::kString, value, start);
  }

  SourcePos position_of(size_t offset) {
    // Positions are requested in increasing order, so count lines incrementally.
    if (offset < line_cache_offset_) {
      line_cache_offset_ = 0;
      line_cache_line_ = 1;
      line_cache_line_start_ = 0;
    }
    for (size_t i = line_cache_offset_; i < offset && i < source_.size(); ++i) {
      if (source_[i] == '\n') {
        ++line_cache_line_;
        line_cache_line_start_ = i + 1;
      }
    }
    line_cache_offset_ = offset;
    return SourcePos{line_cache_line_, static_cast<int>(offset - line_cache_line_start_) + 1};
  }

  void push(Token::Kind kind, std::string text, SourcePos pos) {
    if (kind == Token::Kind::kText && text.empty()) return;
    tokens_.push_back(Token{kind, std::move(text), pos});
  }

  std::string source_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  size_t line_cache_offset_ = 0;
  int line_cache_line_ = 1;
  size_t line_cache_line_start_ = 0;
};

}  // namespace

std::vector<Token> tokenize_template(const std::string& source) { return Lexer(source).run(); }

}  // namespace swiftkv::jinja
