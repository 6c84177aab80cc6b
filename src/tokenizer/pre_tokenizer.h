// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): Sequence, Split, ByteLevel, Metaspace, Digits.
// Each takes the list of pieces made so far and splits (or rewrites) every piece; the BPE model then
// sees each final piece as one word. `first` tells a piece that starts the text (Metaspace's "first").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/json.h"

namespace mb {

struct Piece {
  std::string text;
  bool first = false;  // begins at the start of the (normalized) text
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void split(std::vector<Piece>* pieces) const = 0;
  static std::unique_ptr<PreTokenizer> from_json(const json::Value& v, const std::string& source);
};

// How a Split keeps what its pattern matched (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Cuts `text` at the given matches ([begin, end) byte ranges, ascending, not overlapping); empty pieces
// are left out. With `invert`, the matches are the pieces kept and the text between them the delimiters.
std::vector<std::string> split_by_matches(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
                                          SplitBehavior behavior, bool invert);

}  // namespace mb
