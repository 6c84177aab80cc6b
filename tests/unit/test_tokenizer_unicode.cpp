// Unicode tables and NFC against the Unicode Character Database's own test data (NormalizationTest.txt,
// from Debian's unicode-data, the same release the tables were generated from). NFC uses Unicode 9.0's
// normalization data, as Hugging Face tokenizers does; test lines about characters normalized only by later
// versions are left out of the NFC check, and one of them is checked to stay as it is.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "core/error.h"
#include "tokenizer/unicode.h"

using namespace mb;
using namespace mb::unicode;

namespace {
std::u32string parse_code_points(const std::string& field) {
  std::u32string out;
  std::istringstream in(field);
  std::string hex;
  while (in >> hex) out.push_back(static_cast<char32_t>(std::stoul(hex, nullptr, 16)));
  return out;
}
}  // namespace

TEST(Unicode, CategoriesAndWhiteSpace) {
  EXPECT_EQ(category(U'a'), Category::Ll);
  EXPECT_EQ(category(U'Z'), Category::Lu);
  EXPECT_EQ(category(U'7'), Category::Nd);
  EXPECT_EQ(category(U'\u00BD'), Category::No);     // one half
  EXPECT_EQ(category(U'\u4E2D'), Category::Lo);     // CJK (a First/Last range in UnicodeData.txt)
  EXPECT_EQ(category(U'\uAC00'), Category::Lo);     // Hangul syllable (also a range)
  EXPECT_EQ(category(U'\u0301'), Category::Mn);
  EXPECT_EQ(category(U'\U0001F917'), Category::So);  // hugging face emoji
  EXPECT_EQ(category(U'\u200D'), Category::Cf);     // zero width joiner
  EXPECT_EQ(category(U'-'), Category::Pd);
  EXPECT_EQ(category(U'$'), Category::Sc);
  EXPECT_EQ(category(U'\U000E0000'), Category::Cn);
  EXPECT_EQ(category(U'\U0010FFFD'), Category::Co);
  EXPECT_STREQ(category_name(Category::Pf), "Pf");
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', U'\v', U'\f', U'\u0085', U'\u00A0', U'\u2003', U'\u3000', U'\u2029'})
    EXPECT_TRUE(is_white_space(c)) << static_cast<uint32_t>(c);
  for (char32_t c : {U'a', U'\u200B', U'\u180E', U'\uFEFF'}) EXPECT_FALSE(is_white_space(c)) << static_cast<uint32_t>(c);
  EXPECT_EQ(simple_fold(U'S'), U's');
  EXPECT_EQ(simple_fold(U'\u017F'), U's');  // long s folds to s
  EXPECT_EQ(simple_fold(U'\u212A'), U'k');  // Kelvin sign
  EXPECT_EQ(simple_fold(U's'), U's');
}

TEST(Unicode, Utf8IsStrict) {
  size_t pos = 0;
  char32_t c;
  std::string ok = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\xA4\x97";
  std::u32string got;
  while (next_code_point(ok, &pos, &c)) got.push_back(c);
  EXPECT_EQ(got, U"a\u00E9\u20AC\U0001F917");
  EXPECT_EQ(encode_utf8(got), ok);
  for (std::string bad : {"\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC3", "\xF8\x88\x80\x80\x80"}) {
    pos = 0;
    EXPECT_FALSE(next_code_point(bad, &pos, &c)) << bad.size();
    EXPECT_THROW(decode_utf8("ok" + bad, "text"), Error);
  }
}

TEST(Unicode, NfcPassesEveryLineOfNormalizationTest) {
  // c2 == NFC(c1) == NFC(c2) == NFC(c3), c4 == NFC(c4) == NFC(c5), for every line; and every code point
  // not listed in part 1 is its own NFC.
  FILE* f = popen("bzcat /usr/share/unicode/NormalizationTest.txt.bz2", "r");
  ASSERT_NE(f, nullptr);
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  ASSERT_EQ(pclose(f), 0) << "install Debian's unicode-data and bzip2 (scripts/install-deps.sh)";
  std::istringstream lines(text);
  std::string line;
  size_t checked = 0, skipped_newer = 0;
  std::vector<bool> in_part1(0x110000, false);
  bool part1 = false;
  while (std::getline(lines, line)) {
    if (line.rfind("@Part", 0) == 0) {
      part1 = line.rfind("@Part1", 0) == 0;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::u32string> c;
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i < 5 && std::getline(fields, field, ';'); ++i) c.push_back(parse_code_points(field));
    ASSERT_EQ(c.size(), 5u) << line;
    if (part1) in_part1[c[0][0]] = true;
    bool newer = false;  // lines about characters whose normalization came after Unicode 9.0
    for (const auto& column : c)
      for (char32_t cp : column) newer = newer || normalization_added_after_9(cp);
    if (newer) {
      ++skipped_newer;
      continue;
    }
    for (int i : {0, 1, 2}) ASSERT_EQ(nfc(c[i]), c[1]) << line;
    for (int i : {3, 4}) ASSERT_EQ(nfc(c[i]), c[3]) << line;
    ++checked;
  }
  EXPECT_GT(checked, 18000u);
  EXPECT_GT(skipped_newer, 0u);
  EXPECT_LT(skipped_newer, 2000u);
  // U+1DF6 (Unicode 10) is a starter to Unicode 9.0 data: it blocks the acute from composing with the a.
  EXPECT_EQ(nfc(U"a\u1DF6\u0301"), U"a\u1DF6\u0301");
  EXPECT_EQ(nfc(U"a\u0301"), U"\u00E1");
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (in_part1[cp] || (cp >= 0xD800 && cp <= 0xDFFF)) continue;
    std::u32string one(1, cp);
    ASSERT_EQ(nfc(one), one) << std::hex << static_cast<uint32_t>(cp);
  }
}
