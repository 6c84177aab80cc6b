// Unicode facts the tokenizer needs, from tables generated out of the Unicode Character Database
// (scripts/gen_unicode_tables.py): general categories for the regexes' \p{..}, White_Space for \s, simple
// case folding for (?i:..), and NFC. Plus strict UTF-8 decoding and encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mb::unicode {

// In the order of the generated kCategoryNames.
enum class Category : uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe,
  Pi, Pf, Po, Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co
};

Category category(char32_t c);
const char* category_name(Category c);
bool is_white_space(char32_t c);  // the White_Space property (what \s means in the tokenizers' regexes)
char32_t simple_fold(char32_t c);
// \w as Rust's regex crate has it (Alphabetic, marks, Nd, Pc, Join_Control): what added tokens' single_word
// looks at on either side of a match.
bool is_word_char(char32_t c);  // CaseFolding.txt statuses C and S; c itself when it has none

// Decodes one code point at text[*pos] and advances *pos; false (pos unchanged) on malformed UTF-8,
// overlong forms, surrogates and values past U+10FFFF.
bool next_code_point(std::string_view text, size_t* pos, char32_t* out);
void append_utf8(std::string* out, char32_t c);
// The byte offset of the first malformed sequence, or std::string_view::npos when `text` is valid UTF-8.
size_t invalid_utf8_at(std::string_view text);
// Throws kInvalidArgument naming `what` and the byte offset when `text` is not valid UTF-8.
void check_utf8(std::string_view text, const std::string& what);
// Whole-string decode; throws kInvalidArgument naming `what` and the byte offset on malformed UTF-8.
std::vector<char32_t> decode_utf8(std::string_view text, const std::string& what);
std::string encode_utf8(const std::u32string& text);

// Normalization Form C (canonical decomposition, canonical order, canonical composition) with the
// normalization data of Unicode 9.0, as Hugging Face tokenizers has it: characters added since have no
// decomposition and combining class 0. NFKC is not implemented: no supported tokenizer asks for it.
std::u32string nfc(const std::u32string& text);
// Whether c has a decomposition or combining class in the current Unicode data that NFC above ignores.
bool normalization_added_after_9(char32_t c);

}  // namespace mb::unicode
