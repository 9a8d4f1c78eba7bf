// The chat-template interpreter must render real model templates byte for
// byte as transformers' apply_chat_template does (goldens from
// scripts/reference/gen_chat_template_goldens.py), and reject bad templates
// with positioned errors.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace swiftkv {
namespace {

nlohmann::ordered_json load_goldens() {
  const std::string path = std::string(SWIFTKV_SOURCE_DIR) + "/tests/golden/chat_templates/chat_templates.json";
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "missing golden file " << path;
  return nlohmann::ordered_json::parse(file);
}

ChatTemplateInputs inputs_from_case(const nlohmann::ordered_json& entry, const nlohmann::ordered_json& test_case) {
  ChatTemplateInputs inputs;
  for (const auto& message : test_case["messages"]) {
    inputs.messages.push_back({message["role"].get<std::string>(), message["content"].get<std::string>()});
  }
  inputs.add_generation_prompt = test_case["add_generation_prompt"].get<bool>();
  inputs.bos_token = entry["bos_token"].get<std::string>();
  inputs.eos_token = entry["eos_token"].get<std::string>();
  inputs.extra = test_case["extra"];
  return inputs;
}

std::string render(const std::string& source, ChatTemplateInputs inputs = {}) { return ChatTemplate(source).render(inputs); }

std::string error_of(const std::string& source, ChatTemplateInputs inputs = {}) {
  try {
    ChatTemplate(source).render(inputs);
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ChatTemplate, GoldenTemplatesMatchJinja2) {
  const auto goldens = load_goldens();
  ASSERT_EQ(goldens["templates"].size(), 6u);
  for (const auto& entry : goldens["templates"]) {
    const std::string name = entry["name"].get<std::string>();
    const ChatTemplate chat_template(entry["template"].get<std::string>());
    for (const auto& test_case : entry["cases"]) {
      SCOPED_TRACE(name + " / " + test_case["name"].get<std::string>());
      const ChatTemplateInputs inputs = inputs_from_case(entry, test_case);
      if (test_case.contains("expected_error")) {
        const std::string message = test_case["expected_error"].get<std::string>();
        try {
          chat_template.render(inputs);
          ADD_FAILURE() << "expected the template to raise: " << message;
        } catch (const Error& error) {
          EXPECT_NE(std::string(error.what()).find(message), std::string::npos) << error.what();
        }
        continue;
      }
      EXPECT_EQ(chat_template.render(inputs), test_case["expected"].get<std::string>());
    }
  }
}

TEST(ChatTemplate, MistralRaisesOnTwoUserTurns) {
  const auto goldens = load_goldens();
  bool found = false;
  for (const auto& entry : goldens["templates"]) {
    if (entry["name"] != "mistral-7b-instruct-v0.3") continue;
    found = true;
    ChatTemplateInputs inputs;
    inputs.messages = {{"user", "a"}, {"user", "b"}};
    inputs.bos_token = "<s>";
    const std::string message = error_of(entry["template"].get<std::string>(), inputs);
    EXPECT_NE(message.find("After the optional system message, conversation roles must alternate"), std::string::npos) << message;
  }
  EXPECT_TRUE(found);
}

TEST(ChatTemplate, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {% if true %}\nb\n  {% endif %}\nc"), "a\nb\nc");
  EXPECT_EQ(render("a {%+ if true %}b{% endif %}"), "a b");
  EXPECT_EQ(render("  {# note #}\nx"), "x");
  EXPECT_EQ(render("x {{ 1 }}\n"), "x 1");  // one trailing newline is dropped
}

TEST(ChatTemplate, LoopsAndNamespaces) {
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{{ loop.index }}/{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}"), "1/3,2/3,3/3");
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index0 }}{{ x }}{% endfor %}"), "0214");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for x in range(5) %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"), "10");
  EXPECT_EQ(render("{% set y = 1 %}{% for x in [1] %}{% set y = 2 %}{% endfor %}{{ y }}"), "1");
  EXPECT_EQ(render("{% for x in range(9) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}"), "02");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
}

TEST(ChatTemplate, ExpressionsAndFilters) {
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 'ab' * 2 }}"), "3 -4 1 3.5 1024 abab");
  EXPECT_EQ(render("{{ 'x' ~ 1 ~ none }} {{ [1, 'a', none, true] }} {{ {'k': 1.0} }}"), "x1None [1, 'a', None, True] {'k': 1.0}");
  EXPECT_EQ(render("{{ 'abcdef'[1:4] }} {{ 'abc'[::-1] }} {{ [1, 2, 3][-1] }} {{ [1, 2, 3][1:] }}"), "bcd cba 3 [2, 3]");
  EXPECT_EQ(render("{{ ' a b '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}|{{ 'abc'.startswith('ab') }}"), "a b|['a', 'b']|HIhi|True");
  EXPECT_EQ(render("{{ 'aXbX'.replace('X', '-') }} {{ {'a': 1}.get('b', 5) }} {{ 'a' in 'cat' }} {{ 3 not in [1, 2] }}"), "a-b- 5 True True");
  EXPECT_EQ(render("{{ undefined_name | default('d') }} {{ '' | default('e', true) }} {{ 'yes' if 1 > 2 else 'no' }}"), "d e no");
  EXPECT_EQ(render("{{ {'b': [1, 2], 'a': 'é\"'} | tojson }}"), "{\"b\": [1, 2], \"a\": \"é\\\"\"}");
  EXPECT_EQ(render("{{ {'a': [1]} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ]\n}");
  EXPECT_EQ(render("{{ [{'r': 'u'}, {'r': 's'}] | selectattr('r', 'equalto', 'u') | list | length }}"), "1");
  EXPECT_EQ(render("{{ ['a', 'b'] | join(', ') }} {{ [3, 4] | first }} {{ [3, 4] | last }} {{ 'héllo' | length }}"), "a, b 3 4 5");
  EXPECT_EQ(render("{{ none is none }} {{ 'x' is string }} {{ {} is mapping }} {{ 3 is number }} {{ x is defined }}"), "True True True True False");
}

TEST(ChatTemplate, StrftimeNowFormatsLocalTime) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char expected[64];
  std::strftime(expected, sizeof(expected), "%Y", &local);
  EXPECT_EQ(render("{{ strftime_now('%Y') }}"), expected);
}

TEST(ChatTemplate, SyntaxErrorsNameThePosition) {
  try {
    ChatTemplate("ab\n{% if x %}oops");
    ADD_FAILURE() << "expected a syntax error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("line 2"), std::string::npos) << error.what();
  }
  try {
    ChatTemplate("{{ x | frobnicate }}");
    ADD_FAILURE() << "expected an unknown-filter error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("unknown filter 'frobnicate'"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("line 1, column 8"), std::string::npos) << error.what();
  }
  EXPECT_THROW(ChatTemplate("{% macro m() %}{% endmacro %}"), Error);
  EXPECT_THROW(ChatTemplate("{{ x is frobnicated }}"), Error);
  EXPECT_THROW(ChatTemplate("{{ 'unterminated }}"), Error);
  EXPECT_THROW(ChatTemplate("{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}"), Error);
}

TEST(ChatTemplate, RuntimeErrorsAndLimits) {
  EXPECT_NE(error_of("{{ raise_exception('custom message') }}").find("custom message"), std::string::npos);
  EXPECT_NE(error_of("\n {{ missing.attr }}").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("{{ 'a' + 1 }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(error_of("{% for i in range(2000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}").find("loop iterations"), std::string::npos);
  EXPECT_NE(error_of("{{ range(10000000) | length }}").find("range()"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 1000000000 }}").find("limit"), std::string::npos);
}

}  // namespace
}  // namespace swiftkv
