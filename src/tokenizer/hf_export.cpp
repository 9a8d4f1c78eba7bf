// Writes a Hugging Face tokenizer.json / tokenizer_config.json for
// table-based vocabularies (GGUF, llama2.c).
#include <algorithm>

#include "core/error.h"
#include "tokenizer/text_utils.h"
#include "tokenizer/tokenizer_impl.h"

namespace swiftkv {

namespace {

using nlohmann::json;

json string_pattern(const std::string& text) { return json{{"String", text}}; }

json added_tokens_json(const tok::TokenizerModel& model) {
  json added = json::array();
  for (const tok::AddedToken& token : model.added_tokens) {
    added.push_back({{"id", token.id}, {"content", token.content}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                     {"special", token.special}});
  }
  return added;
}

json post_processor_json(const tok::TokenizerModel& model) {
  json single = json::array();
  json special_tokens = json::object();
  auto add_special = [&](int32_t id) {
    const std::string& name = model.tokens[id];
    single.push_back({{"SpecialToken", {{"id", name}, {"type_id", 0}}}});
    special_tokens[name] = {{"id", name}, {"ids", {id}}, {"tokens", {name}}};
  };
  for (int32_t id : model.prefix_ids) add_special(id);
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  for (int32_t id : model.suffix_ids) add_special(id);
  json pair = single;
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair},
          {"special_tokens", special_tokens}};
}

// SentencePiece scores -> BPE merges: every split of a token into two
// vocabulary tokens becomes a merge, ranked by the merged token's score
// (highest first), then by the ids of the two parts, as transformers'
// SentencePiece extractor orders them.
json merges_from_scores(const tok::TokenizerModel& model) {
  struct Merge {
    float score;
    int32_t left, right;
  };
  std::vector<Merge> merges;
  for (size_t id = 0; id < model.tokens.size(); ++id) {
    if (model.special[id] || model.byte_value[id] >= 0) continue;
    const std::string& token = model.tokens[id];
    size_t cut = 0;
    for (const std::string& ch : tok::split_utf8_chars(token)) {
      cut += ch.size();
      if (cut >= token.size()) break;
      const auto left = model.ids.find(token.substr(0, cut));
      const auto right = model.ids.find(token.substr(cut));
      if (left != model.ids.end() && right != model.ids.end()) {
        merges.push_back({model.scores[id], left->second, right->second});
      }
    }
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left != b.left) return a.left < b.left;
    return a.right < b.right;
  });
  json out = json::array();
  for (const Merge& merge : merges) out.push_back({model.tokens[merge.left], model.tokens[merge.right]});
  return out;
}

json byte_level_json(const VocabSpec& spec, const tok::TokenizerModel& model) {
  json pre = json::array();
  for (const std::string& pattern : tok::gguf_pre_patterns(spec.pre)) {
    pre.push_back({{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"},
                   {"invert", false}});
  }
  pre.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                 {"use_regex", false}});
  json merges = json::array();
  for (const auto& [left, right] : spec.merges) merges.push_back({left, right});
  json vocab = json::object();
  for (size_t id = 0; id < model.tokens.size(); ++id) vocab[model.tokens[id]] = id;
  return {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr},
          {"added_tokens", added_tokens_json(model)}, {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre}}},
          {"post_processor", post_processor_json(model)},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                     {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                     {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
                     {"vocab", vocab}, {"merges", merges}}}};
}

json sentencepiece_json(const VocabSpec& spec, const tok::TokenizerModel& model) {
  json normalizers = json::array();
  if (spec.add_space_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", tok::kSpmSpace}});
  normalizers.push_back({{"type", "Replace"}, {"pattern", string_pattern(" ")}, {"content", tok::kSpmSpace}});
  json decoders = json::array();
  decoders.push_back({{"type", "Replace"}, {"pattern", string_pattern(tok::kSpmSpace)}, {"content", " "}});
  decoders.push_back({{"type", "ByteFallback"}});
  decoders.push_back({{"type", "Fuse"}});
  if (spec.add_space_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  json vocab = json::object();
  for (size_t id = 0; id < model.tokens.size(); ++id) vocab[model.tokens[id]] = id;
  const json unk = model.unk_id >= 0 ? json(model.tokens[model.unk_id]) : json(nullptr);
  return {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr},
          {"added_tokens", added_tokens_json(model)},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", normalizers}}},
          {"pre_tokenizer", nullptr}, {"post_processor", post_processor_json(model)},
          {"decoder", {{"type", "Sequence"}, {"decoders", decoders}}},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", unk},
                     {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                     {"fuse_unk", true}, {"byte_fallback", true}, {"ignore_merges", false},
                     {"vocab", vocab}, {"merges", merges_from_scores(model)}}}};
}

}  // namespace

nlohmann::json tokenizer_json_from_vocab(const VocabSpec& spec) {
  if (!spec.tokenizer_json.empty()) return nlohmann::json::parse(spec.tokenizer_json);
  tok::TokenizerModel model = tok::model_from_tables(spec);
  tok::finish_model(model);
  return spec.model == "gpt2" ? byte_level_json(spec, model) : sentencepiece_json(spec, model);
}

nlohmann::json tokenizer_config_from_vocab(const VocabSpec& spec) {
  if (!spec.tokenizer_config_json.empty()) return nlohmann::json::parse(spec.tokenizer_config_json);
  tok::TokenizerModel model = tok::model_from_tables(spec);
  json config = {{"add_bos_token", spec.add_bos}, {"add_eos_token", spec.add_eos},
                 {"clean_up_tokenization_spaces", false},
                 {"tokenizer_class", "PreTrainedTokenizerFast"}};
  if (model.bos_id >= 0) config["bos_token"] = model.tokens[model.bos_id];
  if (model.eos_id >= 0) config["eos_token"] = model.tokens[model.eos_id];
  if (model.unk_id >= 0) config["unk_token"] = model.tokens[model.unk_id];
  if (!spec.chat_template.empty()) config["chat_template"] = spec.chat_template;
  return config;
}

}  // namespace swiftkv
