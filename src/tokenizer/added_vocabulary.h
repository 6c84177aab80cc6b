// The added tokens of tokenizer.json ("added_tokens"): special and non-special tokens matched in the text
// before anything else, so they are never split by the model. As Hugging Face tokenizers does it:
// ids come from the model's vocabulary when the token is in it, otherwise they are numbered in list order
// from the vocabulary's size (the "id" fields of the file are not used); tokens with normalized=false are
// matched on the raw text, the others on each normalized stretch between those; at each position the
// leftmost, then longest token wins; single_word, lstrip and rstrip as in the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "io/json.h"

namespace mb {

class BpeModel;
class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

class AddedVocabulary {
 public:
  AddedVocabulary(const json::Value& added_tokens, const BpeModel& model, const Normalizer* normalizer,
                  const std::string& source);
  ~AddedVocabulary();

  // A stretch of text: an added token (id >= 0) or plain text (id -1), [begin, end) in bytes.
  struct Segment {
    size_t begin, end;
    int32_t id;
  };
  // Cuts `text` at the matches of the tokens with normalized == `normalized_tokens`.
  std::vector<Segment> split(std::string_view text, bool normalized_tokens) const;

  int32_t token_to_id(std::string_view token) const;     // -1 when not an added token
  const std::string* id_to_token(int32_t id) const;      // its decode string, or nullptr
  bool is_special(std::string_view token) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Trie;
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, int32_t> by_content_;
  std::unordered_map<int32_t, std::string> decode_form_;  // id -> content (or its normalized form)
  std::unordered_set<std::string> special_;
  std::unique_ptr<Trie> raw_trie_, normalized_trie_;
};

}  // namespace mb
