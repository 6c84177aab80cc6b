#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/component_json.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode.h"

namespace mb {

// A byte trie over token patterns: finds the longest pattern starting at a position.
struct AddedVocabulary::Trie {
  struct Node {
    std::map<uint8_t, int> next;
    int token = -1;  // index into tokens_ of the pattern ending here
  };
  std::vector<Node> nodes{Node{}};

  void add(const std::string& pattern, int token) {
    int n = 0;
    for (char ch : pattern) {
      auto b = static_cast<uint8_t>(ch);
      auto it = nodes[n].next.find(b);
      if (it == nodes[n].next.end()) {
        nodes.push_back(Node{});
        it = nodes[n].next.emplace(b, static_cast<int>(nodes.size() - 1)).first;
      }
      n = it->second;
    }
    if (nodes[n].token < 0) nodes[n].token = token;  // a repeated pattern: the first token keeps it
  }
  // The longest pattern at text[at..]: token index and its length, or -1.
  int longest(std::string_view text, size_t at, size_t* length) const {
    int n = 0, best = -1;
    for (size_t i = at; i < text.size(); ++i) {
      auto it = nodes[n].next.find(static_cast<uint8_t>(text[i]));
      if (it == nodes[n].next.end()) break;
      n = it->second;
      if (nodes[n].token >= 0) {
        best = nodes[n].token;
        *length = i + 1 - at;
      }
    }
    return best;
  }
};

namespace {

// The code point ending just before byte `at`, and the one starting at `at` (0 when none).
char32_t code_point_before(std::string_view s, size_t at) {
  if (at == 0) return 0;
  size_t b = at - 1;
  while (b > 0 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80) --b;
  char32_t c = 0;
  unicode::next_code_point(s, &b, &c);
  return c;
}
char32_t code_point_at(std::string_view s, size_t at) {
  char32_t c = 0;
  if (at < s.size()) unicode::next_code_point(s, &at, &c);
  return c;
}
}  // namespace

AddedVocabulary::AddedVocabulary(const json::Value& added_tokens, const BpeModel& model, const Normalizer* normalizer,
                                 const std::string& source)
    : raw_trie_(std::make_unique<Trie>()), normalized_trie_(std::make_unique<Trie>()) {
  if (added_tokens.is_null()) return;
  if (!added_tokens.is_array()) fail_format(source, "added_tokens is not an array");
  int32_t next_id = model.vocab_entries();
  for (const json::Value& t : added_tokens.items()) {
    AddedToken a;
    const json::Value* content = t.find("content");
    if (!content) fail_format(source, "an added token without content");
    a.content = content->as_string(source + ": added token content");
    if (a.content.empty()) continue;
    a.single_word = tokenizer_json::flag(t, "single_word", false);
    a.lstrip = tokenizer_json::flag(t, "lstrip", false);
    a.rstrip = tokenizer_json::flag(t, "rstrip", false);
    a.normalized = tokenizer_json::flag(t, "normalized", true);
    a.special = tokenizer_json::flag(t, "special", false);
    auto known = by_content_.find(a.content);
    if (known != by_content_.end()) {
      a.id = known->second;
    } else {
      int32_t model_id = model.token_to_id(a.content);
      a.id = model_id >= 0 ? model_id : next_id++;
    }
    by_content_[a.content] = a.id;
    if (a.special) special_.insert(a.content);
    std::string pattern = a.content;
    if (a.normalized && normalizer) pattern = normalizer->normalize(a.content);
    decode_form_[a.id] = pattern;  // what decode shows for this id (its normalized form when normalized)
    if (!pattern.empty()) (a.normalized ? *normalized_trie_ : *raw_trie_).add(pattern, static_cast<int>(tokens_.size()));
    tokens_.push_back(std::move(a));
  }
}

AddedVocabulary::~AddedVocabulary() = default;

int32_t AddedVocabulary::token_to_id(std::string_view token) const {
  auto it = by_content_.find(std::string(token));
  return it == by_content_.end() ? -1 : it->second;
}

const std::string* AddedVocabulary::id_to_token(int32_t id) const {
  auto it = decode_form_.find(id);
  return it == decode_form_.end() ? nullptr : &it->second;
}

bool AddedVocabulary::is_special(std::string_view token) const { return special_.count(std::string(token)) != 0; }

std::vector<AddedVocabulary::Segment> AddedVocabulary::split(std::string_view text, bool normalized_tokens) const {
  const Trie& trie = normalized_tokens ? *normalized_trie_ : *raw_trie_;
  std::vector<Segment> out;
  size_t start_offset = 0;  // end of the last token segment
  size_t at = 0;
  while (at < text.size()) {
    size_t length = 0;
    int index = trie.nodes.size() > 1 ? trie.longest(text, at, &length) : -1;
    if (index < 0) {
      ++at;
      continue;
    }
    const AddedToken& tok = tokens_[static_cast<size_t>(index)];
    size_t start = at, stop = at + length;
    at = stop;  // the scan goes on after this match even if the match is not used
    if (tok.single_word) {
      bool left_ok = start == 0 || !unicode::is_word_char(code_point_before(text, start));
      bool right_ok = stop == text.size() || !unicode::is_word_char(code_point_at(text, stop));
      if (!left_ok || !right_ok) continue;
    }
    if (tok.lstrip) {
      while (start > start_offset) {
        size_t before = start - 1;
        while (before > 0 && (static_cast<uint8_t>(text[before]) & 0xC0) == 0x80) --before;
        if (!unicode::is_white_space(code_point_at(text, before))) break;
        start = before;
      }
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t next = stop;
        char32_t c;
        if (!unicode::next_code_point(text, &next, &c) || !unicode::is_white_space(c)) break;
        stop = next;
      }
      at = std::max(at, stop);
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, tok.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

}  // namespace mb
