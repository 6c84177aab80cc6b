// The regular expressions of tokenizer.json files (Split pre-tokenizers, Replace normalizers), matched as
// Hugging Face tokenizers' Oniguruma matches them: leftmost match, alternatives and quantifiers tried in
// order with backtracking (greedy unless followed by '?'). A small backtracking engine over code points:
//   literals and escapes (\r \n \t \f \v \xHH \x{H..} \uHHHH, escaped punctuation), '.', classes [..] and
//   [^..] with ranges, \p{..} / \P{..} (general categories: L, Lu, .., N, Nd, .., P.., S.., M.., Z.., C..),
//   \s \S (White_Space), \d \D (Nd), \w \W (letters, marks, Nd, Pc); groups (..), (?:..), (?i:..),
//   lookahead (?=..) (?!..); quantifiers ? * + {m} {m,} {m,n} and their lazy forms.
// Anything else (backreferences, anchors, possessive quantifiers, nested classes) is refused when the
// pattern is compiled, with the pattern and position named, rather than matched differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mb {

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // UTF-8; throws kInvalidArgument for what it cannot match
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // The leftmost match in text[from..): true and [*begin, *end) in code-point indices, or false.
  bool find(const std::u32string& text, size_t from, size_t* begin, size_t* end) const;
  const std::string& pattern() const { return pattern_; }

  struct Program;  // the compiled form, private to regex.cpp

 private:
  std::string pattern_;
  std::unique_ptr<Program> program_;
};

}  // namespace mb
