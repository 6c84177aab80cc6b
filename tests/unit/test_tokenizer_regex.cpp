// The tokenizer's regex engine on the pre-tokenizer patterns of real tokenizer.json files: expected pieces
// worked out by hand from Oniguruma's leftmost, ordered-alternative, backtracking semantics.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "io/json.h"
#include "tokenizer/pattern.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

using namespace mb;

namespace {
// Every match of `pattern` in `text`, in order, as UTF-8.
std::vector<std::string> matches(const std::string& pattern, const std::string& text) {
  Regex re(pattern);
  std::vector<char32_t> cps = unicode::decode_utf8(text, "text");
  std::u32string t(cps.begin(), cps.end());
  std::vector<std::string> out;
  size_t from = 0, b, e;
  while (from <= t.size() && re.find(t, from, &b, &e)) {
    out.push_back(unicode::encode_utf8(t.substr(b, e - b)));
    from = e > b ? e : b + 1;
  }
  return out;
}

const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
using V = std::vector<std::string>;
}  // namespace

TEST(Regex, Llama3PreTokenizerPattern) {
  EXPECT_EQ(matches(kLlama3, "Hello, world!  123456 don't\n\n"),
            (V{"Hello", ",", " world", "!", " ", " ", "123", "456", " don", "'t", "\n\n"}));
  // (?i:..) folds case, long s included; a space run before a word leaves its last space to the word
  EXPECT_EQ(matches(kLlama3, "IT'S it'\u017F   x"), (V{"IT", "'S", " it", "'\u017F", "  ", " x"}));
  EXPECT_EQ(matches(kLlama3, "\u4f60\u597d\uff0c\u4e16\u754c"), (V{"\u4f60\u597d", "\uff0c\u4e16\u754c"}));
  EXPECT_EQ(matches(kLlama3, "a\r\n\r\nb"), (V{"a", "\r\n\r\n", "b"}));
  EXPECT_EQ(matches(kLlama3, "x  \n y"), (V{"x", "  \n", " y"}));
  EXPECT_EQ(matches(kLlama3, "...\n"), (V{"...\n"}));
}

TEST(Regex, ClassesQuantifiersAndLookahead) {
  EXPECT_EQ(matches(R"(\p{N}{1,3})", "1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(matches(R"(a{2,})", "a aa aaaa"), (V{"aa", "aaaa"}));
  EXPECT_EQ(matches(R"(a+?)", "aaa"), (V{"a", "a", "a"}));
  EXPECT_EQ(matches(R"([\x{4e00}-\x{9fa5}]+)", "ab\u4e2d\u6587cd"), (V{"\u4e2d\u6587"}));
  EXPECT_EQ(matches(R"([^\s\p{L}]+)", "ab,; c12"), (V{",;", "12"}));
  EXPECT_EQ(matches(R"([!\-./]|\w+)", "a-b./"), (V{"a", "-", "b", ".", "/"}));
  EXPECT_EQ(matches(R"(\d(?=x))", "1x2y3x"), (V{"1", "3"}));
  EXPECT_EQ(matches(R"(.)", "a\nb"), (V{"a", "b"}));
  EXPECT_EQ(matches(R"(\P{L}+)", "ab12cd"), (V{"12"}));
}

TEST(Regex, RefusesWhatItCannotMatchFaithfully) {
  for (const char* bad : {"(a", "a)", "[a", "a{3,1}", "\\1", "^a", "a++", "(?<n>a)", "(a*)*", "[[a]]", "\\p{Han}"}) {
    try {
      Regex re(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("regex"), std::string::npos) << e.what();
    }
  }
}

TEST(Pattern, EmptyMatchesCutTheTextAsOnigurumaFindsThem) {
  // Results Hugging Face tokenizers 0.23.2 gives for the same patterns (Split Isolated, Replace).
  auto regex = [](const char* r) {
    json::Value p = json::Value::object();
    p.set("Regex", r);
    return Pattern(p, "test");
  };
  Pattern x_star = regex("x*");
  EXPECT_EQ(split_by_matches("abxxc", x_star.matches("abxxc"), SplitBehavior::kIsolated, false), (V{"a", "b", "xx", "c"}));
  EXPECT_EQ(regex("a*").replace_all("bab", "X"), "XbXbX");
  json::Value space = json::Value::object();
  space.set("String", " ");
  EXPECT_EQ(Pattern(space, "test").replace_all(" a  b ", "\u2581"), "\u2581a\u2581\u2581b\u2581");
}

TEST(Pattern, SplitBehaviorsAndInvert) {
  // The table of tokenizers' own tests for String "-" on "-a--b-".
  json::Value dash = json::Value::object();
  dash.set("String", "-");
  Pattern p(dash, "test");
  const std::string t = "-a--b-";
  auto split = [&](SplitBehavior b, bool invert) { return split_by_matches(t, p.matches(t), b, invert); };
  EXPECT_EQ(split(SplitBehavior::kRemoved, false), (V{"a", "b"}));
  EXPECT_EQ(split(SplitBehavior::kRemoved, true), (V{"-", "-", "-", "-"}));
  EXPECT_EQ(split(SplitBehavior::kIsolated, false), (V{"-", "a", "-", "-", "b", "-"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithPrevious, false), (V{"-", "a-", "-", "b-"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithPrevious, true), (V{"-a", "-", "-b", "-"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithNext, false), (V{"-a", "-", "-b", "-"}));
  EXPECT_EQ(split(SplitBehavior::kMergedWithNext, true), (V{"-", "a-", "-", "b-"}));
  EXPECT_EQ(split(SplitBehavior::kContiguous, false), (V{"-", "a", "--", "b", "-"}));
  EXPECT_EQ(split(SplitBehavior::kContiguous, true), (V{"-", "a", "--", "b", "-"}));
}
