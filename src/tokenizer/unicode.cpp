#include "tokenizer/unicode.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>

#include "core/error.h"

namespace mb::unicode_tables {
struct CategoryRange {
  char32_t first, last;
  uint8_t category;
};
struct CodeRange {
  char32_t first, last;
};
struct CodePair {
  char32_t from, to;
};
struct CombiningRange {
  char32_t first, last;
  uint8_t ccc;
};
struct Decomposition {
  char32_t code, first, second;
  uint8_t composes;  // a primary composite: NFC puts it back together
};
}  // namespace mb::unicode_tables

#include "tokenizer/unicode_tables.inc"

namespace mb::unicode {
namespace {
namespace t = unicode_tables;

template <typename Range, size_t N>
const Range* find_range(const Range (&table)[N], char32_t c) {
  const Range* end = table + N;
  const Range* it = std::upper_bound(table, end, c, [](char32_t v, const Range& r) { return v < r.first; });
  if (it == table) return nullptr;
  --it;
  return c <= it->last ? it : nullptr;
}

// Hangul syllables compose and decompose by arithmetic (Unicode 15, section 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(char32_t c) {
  const t::CombiningRange* r = find_range(t::kCombiningClass, c);
  return r ? r->ccc : 0;
}

const t::Decomposition* decomposition(char32_t c) {
  const t::Decomposition* end = t::kDecompositions + sizeof(t::kDecompositions) / sizeof(t::kDecompositions[0]);
  const t::Decomposition* it =
      std::lower_bound(t::kDecompositions, end, c, [](const t::Decomposition& d, char32_t v) { return d.code < v; });
  return it != end && it->code == c ? it : nullptr;
}

void decompose(char32_t c, std::u32string* out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t s = c - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out->push_back(kTBase + s % kTCount);
    return;
  }
  const t::Decomposition* d = decomposition(c);
  if (!d) {
    out->push_back(c);
    return;
  }
  decompose(d->first, out);  // depth is bounded by the data (at most 4 levels)
  if (d->second) decompose(d->second, out);
}

const std::unordered_map<uint64_t, char32_t>& compositions() {
  static const std::unordered_map<uint64_t, char32_t> map = [] {
    std::unordered_map<uint64_t, char32_t> m;
    for (const t::Decomposition& d : t::kDecompositions)
      if (d.composes) m.emplace((uint64_t{d.first} << 32) | d.second, d.code);
    return m;
  }();
  return map;
}

bool compose_pair(char32_t a, char32_t b, char32_t* out) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    *out = kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    return true;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
    *out = a + (b - kTBase);
    return true;
  }
  auto it = compositions().find((uint64_t{a} << 32) | b);
  if (it == compositions().end()) return false;
  *out = it->second;
  return true;
}
}  // namespace

Category category(char32_t c) {
  const t::CategoryRange* r = find_range(t::kCategories, c);
  return r ? static_cast<Category>(r->category) : Category::Cn;
}

const char* category_name(Category c) { return t::kCategoryNames[static_cast<int>(c)]; }

bool is_white_space(char32_t c) { return find_range(t::kWhiteSpace, c) != nullptr; }

bool is_word_char(char32_t c) {
  if (c == 0x200C || c == 0x200D || find_range(t::kAlphabetic, c)) return true;
  switch (category(c)) {
    case Category::Mn: case Category::Mc: case Category::Me: case Category::Nd: case Category::Pc: return true;
    default: return false;
  }
}

char32_t simple_fold(char32_t c) {
  const t::CodePair* end = t::kCaseFold + sizeof(t::kCaseFold) / sizeof(t::kCaseFold[0]);
  const t::CodePair* it = std::lower_bound(t::kCaseFold, end, c, [](const t::CodePair& p, char32_t v) { return p.from < v; });
  return it != end && it->from == c ? it->to : c;
}

bool next_code_point(std::string_view s, size_t* pos, char32_t* out) {
  size_t i = *pos;
  if (i >= s.size()) return false;
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    *out = b0;
    *pos = i + 1;
    return true;
  }
  int len;
  char32_t c, min;
  if ((b0 & 0xE0) == 0xC0) len = 2, c = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) len = 3, c = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) len = 4, c = b0 & 0x07, min = 0x10000;
  else return false;
  if (s.size() - i < static_cast<size_t>(len)) return false;
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return false;
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
  *out = c;
  *pos = i + len;
  return true;
}

void append_utf8(std::string* out, char32_t c) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

size_t invalid_utf8_at(std::string_view text) {
  size_t pos = 0;
  char32_t c;
  while (pos < text.size())
    if (!next_code_point(text, &pos, &c)) return pos;
  return std::string_view::npos;
}

void check_utf8(std::string_view text, const std::string& what) {
  const size_t bad = invalid_utf8_at(text);
  if (bad != std::string_view::npos) fail(Status::kInvalidArgument, what, ": not valid UTF-8 at byte ", bad);
}

std::vector<char32_t> decode_utf8(std::string_view text, const std::string& what) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t c;
    if (!next_code_point(text, &pos, &c)) fail(Status::kInvalidArgument, what, ": not valid UTF-8 at byte ", pos);
    out.push_back(c);
  }
  return out;
}

std::string encode_utf8(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(&out, c);
  return out;
}

bool normalization_added_after_9(char32_t c) {
  return std::binary_search(std::begin(t::kNormalizationAfter9), std::end(t::kNormalizationAfter9), c);
}

std::u32string nfc(const std::u32string& text) {
  std::u32string d;
  d.reserve(text.size());
  for (char32_t c : text) decompose(c, &d);
  // Canonical order: each run of non-starters sorted by combining class, stably.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // Canonical composition: each character joins the last starter unless blocked by a character of the
  // same or higher class in between (or, when adjacent, by nothing).
  std::u32string out;
  out.reserve(d.size());
  size_t starter = std::u32string::npos;
  int last_class = -1;
  for (char32_t c : d) {
    const int cc = combining_class(c);
    char32_t composed;
    if (starter != std::u32string::npos && (last_class < cc || (last_class == 0 && out.size() == starter + 1 && cc == 0)) &&
        compose_pair(out[starter], c, &composed)) {
      out[starter] = composed;
      continue;
    }
    if (cc == 0) starter = out.size();
    last_class = cc;
    out.push_back(c);
  }
  return out;
}

}  // namespace mb::unicode
