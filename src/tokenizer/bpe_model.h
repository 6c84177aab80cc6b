// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}): vocabulary, ranked merges, unknown
// token, byte fallback, ignore_merges, continuing-subword prefix and end-of-word suffix. Turns one
// pre-tokenized word into ids the way Hugging Face tokenizers does: the word's characters (or their
// <0xXX> byte tokens) merged pair by pair, lowest merge rank first, leftmost first among equals.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/json.h"

namespace mb {

class BpeModel {
 public:
  // `model` is tokenizer.json's "model" object; errors name `source`.
  BpeModel(const json::Value& model, const std::string& source);

  void tokenize(std::string_view word, std::vector<int32_t>* ids) const;  // appends
  // -1 when absent.
  int32_t token_to_id(std::string_view token) const;
  // nullptr when the id has no token.
  const std::string* id_to_token(int32_t id) const;
  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }  // highest id + 1
  int32_t vocab_entries() const { return static_cast<int32_t>(vocab_.size()); }  // where added ids start
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct Merge {
    int32_t rank, id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  void add_merge(const std::string& a, const std::string& b, int32_t rank, const std::string& source);

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // by id
  std::vector<uint8_t> present_;     // by id: whether any token has it
  std::unordered_map<uint64_t, Merge> merges_;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string prefix_, suffix_;  // continuing_subword_prefix, end_of_word_suffix
  int32_t byte_ids_[256];        // <0xXX> tokens, -1 where absent
};

}  // namespace mb
