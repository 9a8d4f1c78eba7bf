// Builds the tokenizer model from a Hugging Face tokenizer.json and
// tokenizer_config.json.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "tokenizer/text_utils.h"
#include "tokenizer/tokenizer_impl.h"

namespace swiftkv::tok {

namespace {

using nlohmann::json;

std::string string_or(const json& object, const char* key, const std::string& fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool bool_or(const json& object, const char* key, bool fallback) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// A Split or Replace pattern: {"Regex": "..."} or {"String": "..."} as a regex.
std::string pattern_regex(const json& pattern) {
  if (pattern.contains("Regex")) return pattern["Regex"].get<std::string>();
  if (pattern.contains("String")) return "\\Q" + pattern["String"].get<std::string>() + "\\E";
  fail("unsupported pattern %s in tokenizer.json: expected Regex or String", pattern.dump().c_str());
}

SplitBehavior parse_behavior(const std::string& name) {
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail("unsupported Split behavior '%s' in tokenizer.json", name.c_str());
}

void parse_normalizer(const json& node, std::vector<NormalizeStep>& steps) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const json& child : node["normalizers"]) parse_normalizer(child, steps);
  } else if (type == "Prepend") {
    steps.push_back({NormalizeStep::Kind::kPrepend, "", node["prepend"].get<std::string>()});
  } else if (type == "Replace") {
    if (!node["pattern"].contains("String")) {
      fail("unsupported Replace normalizer with a regex pattern in tokenizer.json");
    }
    steps.push_back({NormalizeStep::Kind::kReplace, node["pattern"]["String"].get<std::string>(),
                     node["content"].get<std::string>()});
  } else if (type == "NFC" || type == "NFKC") {
    // NOTE: Unicode normalization is skipped, so text that is not already in
    // NFC form may tokenize differently from Hugging Face.
    SKV_LOG_WARN("tokenizer", "the %s normalizer is not implemented and is skipped", type.c_str());
  } else {
    fail("unsupported normalizer '%s' in tokenizer.json", type.c_str());
  }
}

void parse_pre_tokenizer(const json& node, std::vector<PreTokenizeStep>& steps, bool& byte_level) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  PreTokenizeStep step;
  if (type == "Sequence") {
    for (const json& child : node["pretokenizers"]) parse_pre_tokenizer(child, steps, byte_level);
    return;
  } else if (type == "Split") {
    step.kind = PreTokenizeStep::Kind::kSplit;
    step.regex = std::make_shared<const Regex>(pattern_regex(node["pattern"]));
    step.behavior = parse_behavior(node.value("behavior", "Isolated"));
    step.invert = bool_or(node, "invert", false);
  } else if (type == "Digits") {
    step.kind = PreTokenizeStep::Kind::kDigits;
    step.individual_digits = bool_or(node, "individual_digits", false);
  } else if (type == "ByteLevel") {
    step.kind = PreTokenizeStep::Kind::kByteLevel;
    step.add_prefix_space = bool_or(node, "add_prefix_space", true);
    if (bool_or(node, "use_regex", true)) step.regex = std::make_shared<const Regex>(kGpt2Pattern);
    byte_level = true;
  } else if (type == "Metaspace") {
    step.kind = PreTokenizeStep::Kind::kMetaspace;
    step.replacement = string_or(node, "replacement", kSpmSpace);
    step.prepend_scheme = string_or(node, "prepend_scheme", bool_or(node, "add_prefix_space", true) ? "always" : "never");
    step.split = bool_or(node, "split", true);
  } else {
    fail("unsupported pre_tokenizer '%s' in tokenizer.json", type.c_str());
  }
  steps.push_back(std::move(step));
}

int32_t vocab_id(const TokenizerModel& model, const std::string& token, const char* where) {
  const auto it = model.ids.find(token);
  if (it == model.ids.end()) fail("%s names token '%s', which is not in the vocabulary", where, token.c_str());
  return it->second;
}

void parse_post_processor(const json& node, TokenizerModel& model) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const json& child : node["processors"]) parse_post_processor(child, model);
  } else if (type == "TemplateProcessing") {
    bool after_sequence = false;
    for (const json& item : node["single"]) {
      if (item.contains("Sequence")) {
        after_sequence = true;
        continue;
      }
      const std::string name = item["SpecialToken"]["id"].get<std::string>();
      for (const json& id : node["special_tokens"][name]["ids"]) {
        (after_sequence ? model.suffix_ids : model.prefix_ids).push_back(id.get<int32_t>());
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    model.prefix_ids.push_back(node["cls"][1].get<int32_t>());
    model.suffix_ids.push_back(node["sep"][1].get<int32_t>());
  } else if (type != "ByteLevel") {
    fail("unsupported post_processor '%s' in tokenizer.json", type.c_str());
  }
}

// Whether the decoder strips the SentencePiece dummy-prefix space.
bool decoder_strips_space(const json& node) {
  if (node.is_null()) return false;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const json& child : node["decoders"]) {
      if (decoder_strips_space(child)) return true;
    }
    return false;
  }
  if (type == "Strip") return node.value("start", 0) > 0;
  if (type == "Metaspace") return string_or(node, "prepend_scheme", "always") != "never";
  return false;
}

bool decoder_is_byte_level(const json& node) {
  if (node.is_null()) return false;
  if (node.value("type", "") == "Sequence") {
    for (const json& child : node["decoders"]) {
      if (decoder_is_byte_level(child)) return true;
    }
    return false;
  }
  return node.value("type", "") == "ByteLevel";
}

void parse_model(const json& node, TokenizerModel& model) {
  if (node.value("type", "BPE") != "BPE") {
    fail("unsupported tokenizer model '%s' in tokenizer.json: only BPE is supported",
         node.value("type", "").c_str());
  }
  for (const auto& [token, id] : node["vocab"].items()) {
    const auto index = id.get<int64_t>();
    if (index < 0 || index > 10000000) fail("invalid vocabulary id %lld in tokenizer.json", static_cast<long long>(index));
    if (model.tokens.size() <= static_cast<size_t>(index)) model.tokens.resize(index + 1);
    model.tokens[index] = token;
  }
  model.byte_fallback = bool_or(node, "byte_fallback", false);
  model.ignore_merges = bool_or(node, "ignore_merges", false);
}

void parse_merges(const json& merges, TokenizerModel& model) {
  int32_t rank = 0;
  for (const json& merge : merges) {
    std::string left, right;
    if (merge.is_array()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ', 1);
      if (space == std::string::npos) fail("invalid merge '%s' in tokenizer.json", text.c_str());
      left = text.substr(0, space);
      right = text.substr(space + 1);
    }
    const auto a = model.ids.find(left), b = model.ids.find(right);
    if (a != model.ids.end() && b != model.ids.end()) {
      model.merge_ranks.emplace(merge_key(a->second, b->second), rank);
    }
    ++rank;
  }
}

// tokenizer_config.json names BOS/EOS as a string or an AddedToken object.
std::string config_token(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return string_or(*it, "content", "");
  return "";
}

}  // namespace

TokenizerModel model_from_hf_json(const VocabSpec& spec) {
  json root, config;
  try {
    root = json::parse(spec.tokenizer_json);
    config = spec.tokenizer_config_json.empty() ? json::object() : json::parse(spec.tokenizer_config_json);
  } catch (const json::exception& error) {
    fail("invalid tokenizer JSON: %s; check tokenizer.json and tokenizer_config.json", error.what());
  }

  TokenizerModel model;
  try {
    parse_model(root.at("model"), model);
    for (const json& item : root.value("added_tokens", json::array())) {
      AddedToken token;
      token.id = item.at("id").get<int32_t>();
      token.content = item.at("content").get<std::string>();
      token.special = bool_or(item, "special", false);
      token.lstrip = bool_or(item, "lstrip", false);
      token.rstrip = bool_or(item, "rstrip", false);
      token.normalized = bool_or(item, "normalized", false);
      token.single_word = bool_or(item, "single_word", false);
      if (model.tokens.size() <= static_cast<size_t>(token.id)) model.tokens.resize(token.id + 1);
      model.tokens[token.id] = token.content;
      model.added_tokens.push_back(token);
    }
    finish_model(model);
    parse_merges(root["model"].value("merges", json::array()), model);

    const std::string unk = string_or(root["model"], "unk_token", "");
    if (!unk.empty()) model.unk_id = vocab_id(model, unk, "model.unk_token");
    parse_normalizer(root.value("normalizer", json()), model.normalizers);
    parse_pre_tokenizer(root.value("pre_tokenizer", json()), model.pre_tokenizers, model.byte_level);
    parse_post_processor(root.value("post_processor", json()), model);
    const json decoder = root.value("decoder", json());
    model.byte_level = model.byte_level || decoder_is_byte_level(decoder);
    model.strip_leading_space = decoder_strips_space(decoder);
  } catch (const json::exception& error) {
    fail("unexpected structure in tokenizer.json: %s", error.what());
  }

  const std::string bos = config_token(config, "bos_token");
  const std::string eos = config_token(config, "eos_token");
  if (!bos.empty()) model.bos_id = vocab_id(model, bos, "tokenizer_config.json bos_token");
  if (!eos.empty()) model.eos_id = vocab_id(model, eos, "tokenizer_config.json eos_token");
  if (model.bos_id < 0 && spec.bos_id >= 0 && spec.bos_id < static_cast<int64_t>(model.tokens.size())) {
    model.bos_id = static_cast<int32_t>(spec.bos_id);
  }
  if (model.eos_id < 0 && spec.eos_id >= 0 && spec.eos_id < static_cast<int64_t>(model.tokens.size())) {
    model.eos_id = static_cast<int32_t>(spec.eos_id);
  }
  model.chat_template = string_or(config, "chat_template", spec.chat_template);
  return model;
}

}  // namespace swiftkv::tok
