// The "pattern" of Split pre-tokenizers and Replace normalizers and decoders: {"String": s} (a literal) or
// {"Regex": r}. Finds every non-overlapping match, left to right.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"
#include "tokenizer/regex.h"

namespace mb {

class Pattern {
 public:
  Pattern(const json::Value& pattern, const std::string& what);
  // [begin, end) byte ranges of the matches in `text` (UTF-8), as Oniguruma finds them one after another
  // (empty matches included: they cut the text too).
  std::vector<std::pair<size_t, size_t>> matches(const std::string& text) const;
  // Every match replaced by `content`.
  std::string replace_all(const std::string& text, const std::string& content) const;

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
};

}  // namespace mb
