#include "tokenizer/pre_tokenizer.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/component_json.h"
#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace mb {

std::vector<std::string> split_by_matches(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
                                          SplitBehavior behavior, bool invert) {
  // Every byte range of the text, marked as delimiter (a match, or a gap when inverted) or not.
  struct Span {
    size_t b, e;
    bool delimiter;
  };
  std::vector<Span> spans;
  size_t last = 0;
  for (auto [b, e] : matches) {
    if (b > last) spans.push_back({last, b, invert});
    spans.push_back({b, e, !invert});
    last = e;
  }
  if (last < text.size()) spans.push_back({last, text.size(), invert});

  std::vector<std::string> out;
  auto piece = [&](const Span& s) { return text.substr(s.b, s.e - s.b); };
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& s : spans)
        if (!s.delimiter) out.push_back(piece(s));
      break;
    case SplitBehavior::kIsolated:
      for (const Span& s : spans) out.push_back(piece(s));
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_open = false;  // the last piece may take a following delimiter
      for (const Span& s : spans) {
        if (s.delimiter && previous_open) {
          out.back() += piece(s);
          previous_open = false;
        } else {
          out.push_back(piece(s));
          previous_open = !s.delimiter;
        }
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      std::string pending;  // a delimiter waiting for the piece after it
      bool have_pending = false;
      for (const Span& s : spans) {
        if (s.delimiter) {
          if (have_pending) out.push_back(pending);
          pending = piece(s);
          have_pending = true;
        } else {
          out.push_back(have_pending ? pending + piece(s) : piece(s));
          have_pending = false;
        }
      }
      if (have_pending) out.push_back(pending);
      break;
    }
    case SplitBehavior::kContiguous:  // neighbours of the same kind become one piece
      for (size_t i = 0; i < spans.size(); ++i) {
        if (i > 0 && spans[i].delimiter == spans[i - 1].delimiter) out.back() += piece(spans[i]);
        else out.push_back(piece(spans[i]));
      }
      break;
  }
  std::vector<std::string> kept;
  for (std::string& p : out)
    if (!p.empty()) kept.push_back(std::move(p));
  return kept;
}

namespace {

// Applies `cut` to every piece; the first piece cut from a `first` piece stays `first`.
template <typename Cut>
void split_each(std::vector<Piece>* pieces, Cut cut) {
  std::vector<Piece> out;
  for (Piece& p : *pieces) {
    std::vector<std::string> parts = cut(p);
    for (size_t i = 0; i < parts.size(); ++i) out.push_back({std::move(parts[i]), p.first && i == 0});
  }
  *pieces = std::move(out);
}

SplitBehavior behavior_of(const json::Value& v, const std::string& source) {
  const json::Value* b = v.find("behavior");
  if (!b) fail_format(source, "Split pre-tokenizer without \"behavior\"");
  const std::string& s = b->as_string(source + ": behavior");
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  fail_format(source, "unknown split behavior '", s, "'");
}


class SequencePreTokenizer : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  void split(std::vector<Piece>* pieces) const override {
    for (const auto& p : parts) p->split(pieces);
  }
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(const json::Value& v, const std::string& source)
      : pattern(*v.find("pattern"), source + ": Split.pattern"), behavior(behavior_of(v, source)),
        invert(tokenizer_json::flag(v, "invert", false)) {}
  Pattern pattern;
  SplitBehavior behavior;
  bool invert;
  void split(std::vector<Piece>* pieces) const override {
    split_each(pieces, [&](const Piece& p) { return split_by_matches(p.text, pattern.matches(p.text), behavior, invert); });
  }
};

// GPT-2's own split, used by ByteLevel when use_regex is true.
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  bool add_prefix_space = false, use_regex = true;
  std::unique_ptr<Pattern> gpt2;
  void split(std::vector<Piece>* pieces) const override {
    split_each(pieces, [&](const Piece& p) {
      std::string text = p.text;
      if (add_prefix_space && (text.empty() || text[0] != ' ')) text = " " + text;
      std::vector<std::string> parts = use_regex ? split_by_matches(text, gpt2->matches(text), SplitBehavior::kIsolated, false)
                                                 : std::vector<std::string>{text};
      for (std::string& part : parts) part = byte_level::encode(part);
      return parts;
    });
  }
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  std::string replacement = "\xE2\x96\x81";  // U+2581
  std::string scheme = "always";              // always, first, never
  bool split_words = true;
  void split(std::vector<Piece>* pieces) const override {
    split_each(pieces, [&](const Piece& p) {
      std::string text;
      for (char c : p.text) {
        if (c == ' ') text += replacement;
        else text.push_back(c);
      }
      bool prepend = scheme == "always" || (scheme == "first" && p.first);
      if (prepend && text.compare(0, replacement.size(), replacement) != 0) text = replacement + text;
      if (!split_words) return std::vector<std::string>{text};
      std::vector<std::pair<size_t, size_t>> matches;
      for (size_t at = text.find(replacement); at != std::string::npos; at = text.find(replacement, at + replacement.size()))
        matches.emplace_back(at, at + replacement.size());
      return split_by_matches(text, matches, SplitBehavior::kMergedWithNext, false);
    });
  }
};

class DigitsPreTokenizer : public PreTokenizer {
 public:
  bool individual = false;
  void split(std::vector<Piece>* pieces) const override {
    split_each(pieces, [&](const Piece& p) {
      std::vector<std::pair<size_t, size_t>> matches;
      for (size_t pos = 0; pos < p.text.size();) {
        size_t start = pos;
        char32_t c;
        unicode::next_code_point(p.text, &pos, &c);
        // Rust's char::is_numeric: the categories Nd, Nl and No
        auto cat = unicode::category(c);
        if (cat == unicode::Category::Nd || cat == unicode::Category::Nl || cat == unicode::Category::No)
          matches.emplace_back(start, pos);
      }
      return split_by_matches(p.text, matches, individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, false);
    });
  }
};

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const json::Value& v, const std::string& source) {
  if (v.is_null()) return nullptr;
  const std::string& t = tokenizer_json::type_of(v, source, "pre_tokenizer");
  if (t == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    seq->parts = tokenizer_json::sequence<PreTokenizer>(v, "pretokenizers", source);
    return seq;
  }
  if (t == "Split") {
    if (!v.find("pattern")) fail_format(source, "Split pre-tokenizer without \"pattern\"");
    return std::make_unique<SplitPreTokenizer>(v, source);
  }
  if (t == "ByteLevel") {
    auto p = std::make_unique<ByteLevelPreTokenizer>();
    p->add_prefix_space = tokenizer_json::flag(v, "add_prefix_space", true);
    p->use_regex = tokenizer_json::flag(v, "use_regex", true);
    if (p->use_regex) {
      json::Value pattern = json::Value::object();
      pattern.set("Regex", kGpt2Pattern);
      p->gpt2 = std::make_unique<Pattern>(pattern, "ByteLevel");
    }
    return p;
  }
  if (t == "Metaspace") {
    auto p = std::make_unique<MetaspacePreTokenizer>();
    if (const json::Value* r = v.find("replacement")) p->replacement = r->as_string(source + ": Metaspace.replacement");
    if (const json::Value* s = v.find("prepend_scheme")) p->scheme = s->as_string(source + ": Metaspace.prepend_scheme");
    else if (!tokenizer_json::flag(v, "add_prefix_space", true)) p->scheme = "never";
    if (p->scheme != "always" && p->scheme != "first" && p->scheme != "never")
      fail_format(source, "Metaspace prepend_scheme '", p->scheme, "' is not always, first or never");
    p->split_words = tokenizer_json::flag(v, "split", true);
    return p;
  }
  if (t == "Digits") {
    auto p = std::make_unique<DigitsPreTokenizer>();
    p->individual = tokenizer_json::flag(v, "individual_digits", false);
    return p;
  }
  fail(Status::kUnsupported, source, ": pre_tokenizer type '", t,
       "' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits)");
}

}  // namespace mb
