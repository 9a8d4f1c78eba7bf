// UTF-8 and GPT-2 byte-level helpers shared by the tokenizer files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace swiftkv::tok {

// Length of the UTF-8 sequence that starts with `lead` (1 for invalid lead bytes).
int utf8_sequence_length(unsigned char lead);
// Splits `text` into UTF-8 characters; an invalid byte becomes its own piece.
std::vector<std::string> split_utf8_chars(std::string_view text);
std::string codepoint_to_utf8(uint32_t cp);
// Length of the longest prefix of `bytes` that ends on a character boundary
// of valid or clearly invalid UTF-8, so that only an unfinished sequence at
// the end is left out.
size_t complete_utf8_prefix(std::string_view bytes);
// Replaces each maximal invalid subsequence with U+FFFD, as Rust's
// String::from_utf8_lossy does (which Hugging Face tokenizers uses).
std::string sanitize_utf8(std::string_view bytes);

// GPT-2 byte-level alphabet: each byte maps to one printable character.
const std::string& byte_to_unicode(unsigned char byte);
// Maps every byte of `bytes` through byte_to_unicode.
std::string bytes_to_byte_level(std::string_view bytes);
// Inverse of bytes_to_byte_level; characters outside the alphabet keep their
// UTF-8 bytes.
std::string byte_level_to_bytes(std::string_view text);

// Parses "<0xAB>" into 0xAB; returns -1 for any other string.
int parse_byte_token(std::string_view token);
// Replaces every occurrence of `from` in `text` with `to`.
std::string replace_all(std::string_view text, std::string_view from, std::string_view to);

inline const std::string kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

}  // namespace swiftkv::tok
