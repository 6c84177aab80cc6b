#include "tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/component_json.h"
#include "tokenizer/unicode.h"

namespace mb {
BpeModel::BpeModel(const json::Value& model, const std::string& source) {
  const json::Value* vocab = model.find("vocab");
  if (!vocab || !vocab->is_object()) fail_format(source, "model.vocab is missing or not an object");
  vocab_.reserve(vocab->size());
  for (const auto& [token, id_value] : vocab->members()) {
    int64_t id = id_value.as_int(source + ": model.vocab[\"" + token + "\"]");
    if (id < 0 || id >= (int64_t{1} << 24)) fail_format(source, "model.vocab id ", id, " of '", token, "' out of range");
    if (static_cast<size_t>(id) >= tokens_.size()) {
      tokens_.resize(static_cast<size_t>(id) + 1);
      present_.resize(static_cast<size_t>(id) + 1);
    }
    tokens_[static_cast<size_t>(id)] = token;
    present_[static_cast<size_t>(id)] = 1;
    vocab_[token] = static_cast<int32_t>(id);
  }
  prefix_ = tokenizer_json::text(model, "continuing_subword_prefix");
  suffix_ = tokenizer_json::text(model, "end_of_word_suffix");
  fuse_unk_ = tokenizer_json::flag(model, "fuse_unk", false);
  byte_fallback_ = tokenizer_json::flag(model, "byte_fallback", false);
  ignore_merges_ = tokenizer_json::flag(model, "ignore_merges", false);
  const json::Value* dropout = model.find("dropout");
  if (dropout && !dropout->is_null() && dropout->as_number("model.dropout") != 0.0)
    fail_format(source, "BPE dropout is not supported (it makes tokenization random)");
  std::string unk = tokenizer_json::text(model, "unk_token");
  if (!unk.empty()) {
    unk_id_ = token_to_id(unk);
    if (unk_id_ < 0) fail_format(source, "model.unk_token '", unk, "' is not in the vocabulary");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name);
  }

  const json::Value* merges = model.find("merges");
  if (!merges || !merges->is_array()) fail_format(source, "model.merges is missing or not an array");
  int32_t rank = 0;
  for (const json::Value& m : merges->items()) {
    if (m.is_string()) {  // "a b"
      const std::string& s = m.as_string();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail_format(source, "merge ", rank, " ('", s, "') is not two tokens separated by one space");
      add_merge(s.substr(0, space), s.substr(space + 1), rank, source);
    } else if (m.is_array() && m.size() == 2 && m.items()[0].is_string() && m.items()[1].is_string()) {
      add_merge(m.items()[0].as_string(), m.items()[1].as_string(), rank, source);
    } else {
      fail_format(source, "merge ", rank, " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    ++rank;
  }
}

void BpeModel::add_merge(const std::string& a, const std::string& b, int32_t rank, const std::string& source) {
  int32_t ia = token_to_id(a), ib = token_to_id(b);
  if (ia < 0 || ib < 0) fail_format(source, "merge ", rank, " ('", a, "', '", b, "') uses a token not in the vocabulary");
  std::string merged = a + (prefix_.empty() || b.compare(0, prefix_.size(), prefix_) != 0 ? b : b.substr(prefix_.size()));
  int32_t id = token_to_id(merged);
  if (id < 0) fail_format(source, "merge ", rank, " makes '", merged, "', which is not in the vocabulary");
  merges_.emplace(pair_key(ia, ib), Merge{rank, id});  // the first (lowest-ranked) of duplicates wins
}

int32_t BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size() || !present_[static_cast<size_t>(id)]) return nullptr;
  return &tokens_[static_cast<size_t>(id)];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    int32_t whole = token_to_id(word);
    if (whole >= 0) {
      ids->push_back(whole);
      return;
    }
  }
  // Symbols in a doubly linked list; merged-away symbols get length 0.
  struct Symbol {
    int32_t id;
    int prev, next;
    size_t length;  // bytes of the word it covers
  };
  std::vector<Symbol> symbols;
  bool last_was_unk = false;
  size_t pos = 0;
  while (pos < word.size()) {
    size_t start = pos;
    char32_t c;
    if (!unicode::next_code_point(word, &pos, &c)) fail(Status::kInternal, "BPE input is not valid UTF-8");
    std::string piece(word.substr(start, pos - start));
    if (start > 0) piece = prefix_ + piece;
    if (pos == word.size()) piece += suffix_;
    int32_t id = token_to_id(piece);
    if (id >= 0) {
      symbols.push_back({id, 0, 0, pos - start});
      last_was_unk = false;
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (size_t k = start; k < pos; ++k) all = all && byte_ids_[static_cast<uint8_t>(word[k])] >= 0;
      if (all) {
        for (size_t k = start; k < pos; ++k) symbols.push_back({byte_ids_[static_cast<uint8_t>(word[k])], 0, 0, 1});
        last_was_unk = false;
        continue;
      }
    }
    if (unk_id_ < 0) continue;  // no unknown token: the character is dropped
    if (fuse_unk_ && last_was_unk) {
      symbols.back().length += pos - start;
    } else {
      symbols.push_back({unk_id_, 0, 0, pos - start});
    }
    last_was_unk = true;
  }
  const int n = static_cast<int>(symbols.size());
  for (int i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }

  struct Candidate {
    int32_t rank;
    int pos;
    int32_t id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](int left) {
    if (left < 0) return;
    int right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.id});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.length == 0 || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.rank != top.rank || it->second.id != top.id) continue;  // stale
    left.id = top.id;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    consider(left.prev);
    consider(top.pos);
  }
  for (int i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) ids->push_back(symbols[i].id);
}

}  // namespace mb
