#include "tokenizer/decoder.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/component_json.h"
#include "tokenizer/pattern.h"
#include "tokenizer/unicode.h"

namespace mb {

std::string utf8_lossy(std::string_view s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    if (b0 < 0x80) {
      out.push_back(static_cast<char>(b0));
      ++i;
      continue;
    }
    // Expected length and the allowed range of the second byte (Unicode table 3-7).
    int len = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) len = 2;
    else if (b0 == 0xE0) len = 3, lo = 0xA0;
    else if (b0 >= 0xE1 && b0 <= 0xEC) len = 3;
    else if (b0 == 0xED) len = 3, hi = 0x9F;
    else if (b0 >= 0xEE && b0 <= 0xEF) len = 3;
    else if (b0 == 0xF0) len = 4, lo = 0x90;
    else if (b0 >= 0xF1 && b0 <= 0xF3) len = 4;
    else if (b0 == 0xF4) len = 4, hi = 0x8F;
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < static_cast<size_t>(len) && i + k < s.size(); ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (b < l || b > h) break;
    }
    if (k == static_cast<size_t>(len)) out.append(s.substr(i, k));
    else out += kReplacement;
    i += k;
  }
  return out;
}

namespace {

class SequenceDecoder : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> parts;
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& d : parts) tokens = d->decode_chain(std::move(tokens));
    return tokens;
  }
};

// Each token's characters back to the bytes they stand for (a token with a character outside the
// alphabet, such as an added token, keeps its own UTF-8 bytes); all bytes then read as lossy UTF-8.
class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      std::string mapped;
      bool all = true;
      for (size_t pos = 0; pos < t.size() && all;) {
        char32_t c;
        uint8_t b;
        if (!unicode::next_code_point(t, &pos, &c) || !byte_level::byte_of(c, &b)) all = false;
        else mapped.push_back(static_cast<char>(b));
      }
      bytes += all ? mapped : t;
    }
    return {utf8_lossy(bytes)};
  }
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(const json::Value& v, const std::string& what)
      : pattern(*v.find("pattern"), what + ".pattern"), content(v.find("content")->as_string(what + ".content")) {}
  Pattern pattern;
  std::string content;
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) t = pattern.replace_all(t, content);
    return tokens;
  }
};

// Runs of <0xXX> tokens become the text of their bytes; bytes that are not valid UTF-8 become one U+FFFD
// per byte token.
class ByteFallbackDecoder : public Decoder {
 public:
  static bool byte_token(const std::string& t, uint8_t* b) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return false;
    unsigned v = 0;
    for (int i = 3; i < 5; ++i) {
      char c = t[i];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      v = v * 16 + static_cast<unsigned>(d);
    }
    *b = static_cast<uint8_t>(v);
    return true;
  }
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_tokens = 0;
    auto flush = [&] {
      if (pending_tokens == 0) return;
      if (unicode::invalid_utf8_at(pending) == std::string_view::npos) out.push_back(pending);
      else
        for (size_t i = 0; i < pending_tokens; ++i) out.push_back("\xEF\xBF\xBD");
      pending.clear();
      pending_tokens = 0;
    };
    for (std::string& t : tokens) {
      uint8_t b;
      if (byte_token(t, &b)) {
        pending.push_back(static_cast<char>(b));
        ++pending_tokens;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    return {all};
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder : public Decoder {
 public:
  std::string content;
  size_t start = 0, stop = 0;
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t i = 0; i < start && t.compare(b, content.size(), content) == 0 && b + content.size() <= e; ++i)
        b += content.size();
      for (size_t i = 0; i < stop && e >= b + content.size() && t.compare(e - content.size(), content.size(), content) == 0; ++i)
        e -= content.size();
      t = t.substr(b, e - b);
    }
    return tokens;
  }
};

// Replacement characters become spaces, except in the first token, where they are dropped (the space the
// pre-tokenizer prepended), unless the prepend scheme is "never".
class MetaspaceDecoder : public Decoder {
 public:
  std::string replacement = "\xE2\x96\x81";
  bool prepend = true;
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string t;
      for (size_t at = 0; at < tokens[i].size();) {
        if (tokens[i].compare(at, replacement.size(), replacement) == 0) {
          if (i > 0 || !prepend) t.push_back(' ');
          at += replacement.size();
        } else {
          t.push_back(tokens[i][at++]);
        }
      }
      tokens[i] = std::move(t);
    }
    return tokens;
  }
};

}  // namespace

std::unique_ptr<Decoder> Decoder::from_json(const json::Value& v, const std::string& source) {
  if (v.is_null()) return nullptr;
  const std::string& t = tokenizer_json::type_of(v, source, "decoder");
  if (t == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    seq->parts = tokenizer_json::sequence<Decoder>(v, "decoders", source);
    return seq;
  }
  if (t == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (t == "Replace") {
    if (!v.find("pattern") || !v.find("content")) fail_format(source, "Replace decoder needs pattern and content");
    return std::make_unique<ReplaceDecoder>(v, source + ": Replace decoder");
  }
  if (t == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (t == "Fuse") return std::make_unique<FuseDecoder>();
  if (t == "Strip") {
    auto d = std::make_unique<StripDecoder>();
    d->content = v.find("content") ? v.find("content")->as_string(source + ": Strip.content") : " ";
    d->start = v.find("start") ? static_cast<size_t>(v.find("start")->as_int(source + ": Strip.start")) : 0;
    d->stop = v.find("stop") ? static_cast<size_t>(v.find("stop")->as_int(source + ": Strip.stop")) : 0;
    return d;
  }
  if (t == "Metaspace") {
    auto d = std::make_unique<MetaspaceDecoder>();
    if (const json::Value* r = v.find("replacement")) d->replacement = r->as_string(source + ": Metaspace.replacement");
    if (const json::Value* s = v.find("prepend_scheme")) d->prepend = s->as_string(source + ": Metaspace.prepend_scheme") != "never";
    else if (const json::Value* a = v.find("add_prefix_space"); a && a->is_bool()) d->prepend = a->as_bool();
    return d;
  }
  fail(Status::kUnsupported, source, ": decoder type '", t,
       "' is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)");
}

}  // namespace mb
