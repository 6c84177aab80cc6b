#include "tokenizer/pattern.h"

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace mb {

Pattern::Pattern(const json::Value& pattern, const std::string& what) {
  if (const json::Value* s = pattern.find("String")) {
    literal_ = s->as_string(what + ".String");
  } else if (const json::Value* r = pattern.find("Regex")) {
    try {
      regex_ = std::make_unique<Regex>(r->as_string(what + ".Regex"));
    } catch (const Error& e) {
      fail(e.status(), what, ": ", e.what());  // say which file and which part holds the pattern
    }
  } else {
    fail(Status::kInvalidArgument, what, ": a pattern must be {\"String\": ..} or {\"Regex\": ..}");
  }
}

std::vector<std::pair<size_t, size_t>> Pattern::matches(const std::string& text) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (!regex_ && !literal_.empty()) {
    for (size_t at = text.find(literal_); at != std::string::npos; at = text.find(literal_, at + literal_.size()))
      out.emplace_back(at, at + literal_.size());
    return out;
  }
  // The regex works on code points; map its indices back to byte offsets.
  std::u32string cps;
  std::vector<size_t> byte_at;
  cps.reserve(text.size());
  byte_at.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    byte_at.push_back(pos);
    char32_t c;
    if (!unicode::next_code_point(text, &pos, &c)) fail(Status::kInternal, "pattern input is not valid UTF-8");
    cps.push_back(c);
  }
  byte_at.push_back(text.size());
  if (!regex_) {  // an empty literal matches the empty string everywhere
    for (size_t i = 0; i <= cps.size(); ++i) out.emplace_back(byte_at[i], byte_at[i]);
    return out;
  }
  // As Oniguruma's find-all iterates: an empty match right where the previous match ended is skipped and
  // the search moves on one character; other empty matches count (they cut the text around them).
  size_t from = 0, last_end = 0, b, e;
  bool any = false;
  while (from <= cps.size() && regex_->find(cps, from, &b, &e)) {
    if (b == e && any && e == last_end) {
      from = b + 1;
      continue;
    }
    out.emplace_back(byte_at[b], byte_at[e]);
    any = true;
    last_end = e;
    from = e;
  }
  return out;
}

std::string Pattern::replace_all(const std::string& text, const std::string& content) const {
  std::string out;
  size_t last = 0;
  for (auto [b, e] : matches(text)) {
    out.append(text, last, b - last);
    out += content;
    last = e;
  }
  out.append(text, last, std::string::npos);
  return out;
}

}  // namespace mb
