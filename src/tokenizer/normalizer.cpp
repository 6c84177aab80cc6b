#include "tokenizer/normalizer.h"

#include <vector>

#include "core/error.h"
#include "tokenizer/component_json.h"
#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace mb {
namespace {

class SequenceNormalizer : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> parts;
  std::string normalize(std::string text) const override {
    for (const auto& p : parts) text = p->normalize(std::move(text));
    return text;
  }
};

class NfcNormalizer : public Normalizer {
 public:
  std::string normalize(std::string text) const override {
    std::vector<char32_t> cps = unicode::decode_utf8(text, "text");
    return unicode::encode_utf8(unicode::nfc(std::u32string(cps.begin(), cps.end())));
  }
};

class PrependNormalizer : public Normalizer {
 public:
  std::string prefix;
  std::string normalize(std::string text) const override { return text.empty() ? text : prefix + text; }
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(const json::Value& v, const std::string& what)
      : pattern(*v.find("pattern"), what + ".pattern"), content(v.find("content")->as_string(what + ".content")) {}
  Pattern pattern;
  std::string content;
  std::string normalize(std::string text) const override { return pattern.replace_all(text, content); }
};

class StripNormalizer : public Normalizer {
 public:
  bool left = true, right = true;
  std::string normalize(std::string text) const override {
    std::vector<char32_t> cps = unicode::decode_utf8(text, "text");
    size_t b = 0, e = cps.size();
    if (left)
      while (b < e && unicode::is_white_space(cps[b])) ++b;
    if (right)
      while (e > b && unicode::is_white_space(cps[e - 1])) --e;
    return unicode::encode_utf8(std::u32string(cps.begin() + b, cps.begin() + e));
  }
};


}  // namespace

std::unique_ptr<Normalizer> Normalizer::from_json(const json::Value& v, const std::string& source) {
  if (v.is_null()) return nullptr;
  const std::string& t = tokenizer_json::type_of(v, source, "normalizer");
  const std::string what = source + ": normalizer " + t;
  if (t == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    seq->parts = tokenizer_json::sequence<Normalizer>(v, "normalizers", source);
    return seq;
  }
  if (t == "NFC") return std::make_unique<NfcNormalizer>();
  if (t == "Prepend") {
    auto n = std::make_unique<PrependNormalizer>();
    n->prefix = v.find("prepend") ? v.find("prepend")->as_string(what + ".prepend") : std::string();
    return n;
  }
  if (t == "Replace") {
    if (!v.find("pattern") || !v.find("content")) fail_format(source, "Replace normalizer needs pattern and content");
    return std::make_unique<ReplaceNormalizer>(v, what);
  }
  if (t == "Strip") {
    auto n = std::make_unique<StripNormalizer>();
    n->left = tokenizer_json::flag(v, "strip_left", true);
    n->right = tokenizer_json::flag(v, "strip_right", true);
    return n;
  }
  fail(Status::kUnsupported, source, ": normalizer type '", t,
       "' is not supported (supported: Sequence, NFC, Prepend, Replace, Strip)");
}

}  // namespace mb
