#include "tokenizer/text_utils.h"

#include <array>
#include <unordered_map>

namespace swiftkv::tok {

int utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0 && lead >= 0xC2) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

namespace {

// Returns the length of the valid UTF-8 character at the start of `s`, 0 when
// `s` ends before the character is complete, or -1 when it is invalid. The
// second-byte ranges follow the Unicode "well-formed byte sequences" table.
int valid_char_length(std::string_view s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return 1;
  const int n = utf8_sequence_length(b0);
  if (n == 1) return -1;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 == 0xE0) lo = 0xA0;
  if (b0 == 0xED) hi = 0x9F;
  if (b0 == 0xF0) lo = 0x90;
  if (b0 == 0xF4) hi = 0x8F;
  for (int i = 1; i < n; ++i) {
    if (i >= static_cast<int>(s.size())) return 0;
    const auto b = static_cast<unsigned char>(s[i]);
    const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return -i;  // invalid after i bytes
  }
  return n;
}

}  // namespace

std::vector<std::string> split_utf8_chars(std::string_view text) {
  std::vector<std::string> chars;
  size_t i = 0;
  while (i < text.size()) {
    const int n = valid_char_length(text.substr(i));
    const size_t len = n > 0 ? static_cast<size_t>(n) : 1;
    chars.emplace_back(text.substr(i, len));
    i += len;
  }
  return chars;
}

std::string codepoint_to_utf8(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

size_t complete_utf8_prefix(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = valid_char_length(bytes.substr(i));
    if (n == 0) break;  // an unfinished sequence at the end
    i += n > 0 ? static_cast<size_t>(n) : static_cast<size_t>(-n > 0 ? -n : 1);
  }
  return i;
}

std::string sanitize_utf8(std::string_view bytes) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  std::string out;
  size_t i = 0;
  while (i < bytes.size()) {
    const int n = valid_char_length(bytes.substr(i));
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      // A maximal invalid subpart: a lone bad byte, a truncated sequence at
      // the end, or the valid prefix of a sequence broken by a later byte.
      out += kReplacement;
      i += n == 0 ? bytes.size() - i : static_cast<size_t>(-n > 0 ? -n : 1);
    }
  }
  return out;
}

namespace {

struct ByteLevelTables {
  std::array<std::string, 256> to_unicode;
  std::unordered_map<std::string, unsigned char> to_byte;

  ByteLevelTables() {
    // Printable bytes map to themselves; the others take code points from
    // 256 upward in byte order (the GPT-2 bytes_to_unicode table).
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      to_unicode[b] = codepoint_to_utf8(printable ? static_cast<uint32_t>(b) : next++);
      to_byte[to_unicode[b]] = static_cast<unsigned char>(b);
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

const std::string& byte_to_unicode(unsigned char byte) {
  return byte_level_tables().to_unicode[byte];
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_to_unicode(static_cast<unsigned char>(c));
  return out;
}

std::string byte_level_to_bytes(std::string_view text) {
  const auto& to_byte = byte_level_tables().to_byte;
  std::string out;
  for (const std::string& ch : split_utf8_chars(text)) {
    const auto it = to_byte.find(ch);
    if (it != to_byte.end()) {
      out += static_cast<char>(it->second);
    } else {
      out += ch;
    }
  }
  return out;
}

int parse_byte_token(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = token[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(text);
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace swiftkv::tok
