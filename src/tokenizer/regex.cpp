#include "tokenizer/regex.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace mb {
namespace {

using unicode::Category;

constexpr uint32_t bit(Category c) { return 1u << static_cast<int>(c); }
constexpr uint32_t kLetters = bit(Category::Lu) | bit(Category::Ll) | bit(Category::Lt) | bit(Category::Lm) | bit(Category::Lo);
constexpr uint32_t kMarks = bit(Category::Mn) | bit(Category::Mc) | bit(Category::Me);
constexpr uint32_t kNumbers = bit(Category::Nd) | bit(Category::Nl) | bit(Category::No);
constexpr uint32_t kPunctuation = bit(Category::Pc) | bit(Category::Pd) | bit(Category::Ps) | bit(Category::Pe) |
                                  bit(Category::Pi) | bit(Category::Pf) | bit(Category::Po);
constexpr uint32_t kSymbols = bit(Category::Sm) | bit(Category::Sc) | bit(Category::Sk) | bit(Category::So);
constexpr uint32_t kSeparators = bit(Category::Zs) | bit(Category::Zl) | bit(Category::Zp);
constexpr uint32_t kOthers = bit(Category::Cc) | bit(Category::Cf) | bit(Category::Cs) | bit(Category::Co) | bit(Category::Cn);
constexpr uint32_t kWord = kLetters | kMarks | bit(Category::Nd) | bit(Category::Pc);

// One member of a character class: a range, a set of general categories, or White_Space; each may be negated
// (\S, \P{L}, \W inside a class).
struct ClassItem {
  enum Kind { kRange, kCategories, kSpace } kind;
  char32_t lo = 0, hi = 0;
  uint32_t categories = 0;
  bool negated = false;

  bool matches(char32_t c) const {
    bool m = false;
    switch (kind) {
      case kRange: m = c >= lo && c <= hi; break;
      case kCategories: m = (categories & bit(unicode::category(c))) != 0; break;
      case kSpace: m = unicode::is_white_space(c); break;
    }
    return m != negated;
  }
};

struct CharClass {
  std::vector<ClassItem> items;
  bool negated = false;
  bool fold = false;  // under (?i): also matches when the case-folded character would

  bool contains(char32_t c) const {
    for (const ClassItem& item : items)
      if (item.matches(c)) return true;
    return false;
  }
  bool matches(char32_t c) const {
    bool m = contains(c) || (fold && contains(unicode::simple_fold(c)));
    return m != negated;
  }
};

// The parsed pattern.
struct Node {
  enum Kind { kEmpty, kChar, kClass, kConcat, kAlt, kRepeat, kLook } kind = kEmpty;
  char32_t c = 0;
  bool fold = false;  // kChar: compare case-folded
  int cls = -1;       // kClass: index into the program's classes
  int min = 0, max = -1;  // kRepeat; max -1 = unbounded
  bool greedy = true;
  bool negate = false;  // kLook
  std::vector<Node> kids;
};

enum class Op : uint8_t { kChar, kClass, kSplit, kJmp, kLook, kMatch };

struct Inst {
  Op op;
  bool fold = false;
  bool negate = false;
  char32_t c = 0;
  int x = 0, y = 0;  // kSplit: try x then y; kJmp: x; kClass: x = class; kLook: x = sub-program
};

}  // namespace

struct Regex::Program {
  std::vector<CharClass> classes;
  std::vector<std::vector<Inst>> codes;  // [0] the pattern, then one per lookahead
};

namespace {

class Parser {
 public:
  Parser(const std::string& pattern, Regex::Program* program)
      : source_(pattern), p_(unicode::decode_utf8(pattern, "regex")), program_(program) {}

  Node parse() {
    Node n = alternation();
    if (i_ != p_.size()) error("unbalanced ')'");
    return n;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail(Status::kInvalidArgument, "regex '", source_, "': ", what, " at character ", i_,
         " (mbridge's regex engine supports the subset tokenizer.json files use)");
  }
  bool more() const { return i_ < p_.size(); }
  char32_t peek() const { return p_[i_]; }
  bool eat(char32_t c) {
    if (more() && p_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  char32_t take() {
    if (!more()) error("unexpected end of pattern");
    return p_[i_++];
  }

  Node alternation() {
    Node first = concatenation();
    if (!more() || peek() != U'|') return first;
    Node alt;
    alt.kind = Node::kAlt;
    alt.kids.push_back(std::move(first));
    while (eat(U'|')) alt.kids.push_back(concatenation());
    return alt;
  }

  Node concatenation() {
    Node cat;
    cat.kind = Node::kConcat;
    while (more() && peek() != U'|' && peek() != U')') cat.kids.push_back(repetition());
    if (cat.kids.size() == 1) return std::move(cat.kids[0]);
    if (cat.kids.empty()) return Node{};
    return cat;
  }

  int number() {
    if (!more() || peek() < U'0' || peek() > U'9') error("expected a number in {m,n}");
    long v = 0;
    while (more() && peek() >= U'0' && peek() <= U'9') {
      v = v * 10 + (take() - U'0');
      if (v > 1000) error("repetition count over 1000");
    }
    return static_cast<int>(v);
  }

  Node repetition() {
    Node atom_node = atom();
    for (;;) {
      int min, max;
      if (eat(U'*')) min = 0, max = -1;
      else if (eat(U'+')) min = 1, max = -1;
      else if (eat(U'?')) min = 0, max = 1;
      else if (more() && peek() == U'{') {
        ++i_;
        min = number();
        max = min;
        if (eat(U',')) max = (more() && peek() == U'}') ? -1 : number();
        if (!eat(U'}')) error("expected '}'");
        if (max != -1 && max < min) error("{m,n} with n < m");
      } else {
        return atom_node;
      }
      if (atom_node.kind == Node::kLook) error("quantified lookahead");
      Node rep;
      rep.kind = Node::kRepeat;
      rep.min = min;
      rep.max = max;
      if (eat(U'?')) rep.greedy = false;
      else if (more() && peek() == U'+') error("possessive quantifiers are not supported");
      if (max == -1 && nullable(atom_node)) error("a repeated group that can match the empty string");
      rep.kids.push_back(std::move(atom_node));
      atom_node = std::move(rep);
    }
  }

  static bool nullable(const Node& n) {
    switch (n.kind) {
      case Node::kEmpty: case Node::kLook: return true;
      case Node::kChar: case Node::kClass: return false;
      case Node::kConcat:
        for (const Node& k : n.kids)
          if (!nullable(k)) return false;
        return true;
      case Node::kAlt:
        for (const Node& k : n.kids)
          if (nullable(k)) return true;
        return false;
      case Node::kRepeat: return n.min == 0 || nullable(n.kids[0]);
    }
    return true;
  }

  Node atom() {
    char32_t c = take();
    switch (c) {
      case U'(': return group();
      case U'[': return char_class();
      case U'.': {
        CharClass any;  // everything but a newline, as in Oniguruma's default
        any.negated = true;
        any.items.push_back({ClassItem::kRange, U'\n', U'\n'});
        return class_node(std::move(any));
      }
      case U'\\': return escape_outside_class();
      case U'^': case U'$': error("anchors are not supported");
      case U'*': case U'+': case U'?': case U'{': error("a quantifier with nothing to repeat");
      default: return char_node(c);
    }
  }

  Node char_node(char32_t c) {
    Node n;
    n.kind = Node::kChar;
    n.fold = fold_;
    n.c = fold_ ? unicode::simple_fold(c) : c;
    return n;
  }

  Node class_node(CharClass cls) {
    cls.fold = fold_;
    program_->classes.push_back(std::move(cls));
    Node n;
    n.kind = Node::kClass;
    n.cls = static_cast<int>(program_->classes.size() - 1);
    return n;
  }

  Node group() {
    bool saved_fold = fold_;
    Node n;
    if (eat(U'?')) {
      char32_t kind = take();
      if (kind == U':') {
        n = alternation();
      } else if (kind == U'=' || kind == U'!') {
        n.kind = Node::kLook;
        n.negate = kind == U'!';
        n.kids.push_back(alternation());
      } else if (kind == U'i') {
        if (eat(U')')) error("(?i) without a group (use (?i:...))");
        if (!eat(U':')) error("expected ':' after (?i");
        fold_ = true;
        n = alternation();
      } else {
        error("unsupported group kind");
      }
    } else {
      n = alternation();  // capturing groups match as non-capturing ones: only whole matches are used
    }
    fold_ = saved_fold;
    if (!eat(U')')) error("expected ')'");
    return n;
  }

  // An escape that names one character, or 0 with *item set for \s \d \w \p{..} and their negations.
  char32_t escape(ClassItem* item, bool* is_item) {
    *is_item = false;
    char32_t c = take();
    switch (c) {
      case U'r': return U'\r';
      case U'n': return U'\n';
      case U't': return U'\t';
      case U'f': return U'\f';
      case U'v': return U'\v';
      case U'a': return 0x07;
      case U'e': return 0x1B;
      case U'x': {
        if (eat(U'{')) {
          char32_t v = hex(8);
          if (!eat(U'}')) error("expected '}' in \\x{..}");
          return v;
        }
        return hex(2, 2);
      }
      case U'u': return hex(4, 4);
      case U's': case U'S':
        *is_item = true;
        *item = ClassItem{ClassItem::kSpace};
        item->negated = c == U'S';
        return 0;
      case U'd': case U'D': case U'w': case U'W':
        *is_item = true;
        *item = ClassItem{ClassItem::kCategories};
        item->categories = (c == U'd' || c == U'D') ? bit(Category::Nd) : kWord;
        item->negated = c == U'D' || c == U'W';
        return 0;
      case U'p': case U'P':
        *is_item = true;
        *item = ClassItem{ClassItem::kCategories};
        item->categories = property();
        item->negated = c == U'P';
        return 0;
      default:
        if ((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9'))
          error("unsupported escape");
        return c;  // escaped punctuation stands for itself
    }
  }

  char32_t hex(int max_digits, int min_digits = 1) {
    char32_t v = 0;
    int n = 0;
    while (n < max_digits && more()) {
      char32_t d = peek();
      int digit = d >= U'0' && d <= U'9' ? d - U'0' : d >= U'a' && d <= U'f' ? d - U'a' + 10
                : d >= U'A' && d <= U'F' ? d - U'A' + 10 : -1;
      if (digit < 0) break;
      v = v * 16 + static_cast<char32_t>(digit);
      ++i_;
      ++n;
    }
    if (n < min_digits || v > 0x10FFFF) error("bad hexadecimal escape");
    return v;
  }

  uint32_t property() {
    bool braced = eat(U'{');
    std::string name;
    if (braced) {
      while (more() && peek() != U'}') name.push_back(static_cast<char>(take()));
      if (!eat(U'}')) error("expected '}' in \\p{..}");
    } else {
      name.push_back(static_cast<char>(take()));
    }
    if (name == "L" || name == "Letter") return kLetters;
    if (name == "M" || name == "Mark") return kMarks;
    if (name == "N" || name == "Number") return kNumbers;
    if (name == "P" || name == "Punctuation") return kPunctuation;
    if (name == "S" || name == "Symbol") return kSymbols;
    if (name == "Z" || name == "Separator") return kSeparators;
    if (name == "C" || name == "Other") return kOthers;
    for (int i = 0; i <= static_cast<int>(Category::Co); ++i)
      if (name == unicode::category_name(static_cast<Category>(i))) return 1u << i;
    error("unsupported property \\p{" + name + "}");
  }

  Node escape_outside_class() {
    ClassItem item{ClassItem::kRange};
    bool is_item;
    char32_t c = escape(&item, &is_item);
    if (!is_item) return char_node(c);
    CharClass cls;
    cls.items.push_back(item);
    return class_node(std::move(cls));
  }

  Node char_class() {
    CharClass cls;
    cls.negated = eat(U'^');
    bool first = true;
    while (true) {
      if (!more()) error("unterminated character class");
      char32_t c = take();
      if (c == U']' && !first) break;
      first = false;
      if (c == U'[') error("nested character classes are not supported");
      ClassItem item{ClassItem::kRange};
      bool is_item = false;
      if (c == U'\\') c = escape(&item, &is_item);
      if (is_item) {
        cls.items.push_back(item);
        continue;
      }
      char32_t hi = c;
      if (more() && peek() == U'-' && i_ + 1 < p_.size() && p_[i_ + 1] != U']') {
        ++i_;
        hi = take();
        if (hi == U'\\') {
          bool range_item;
          hi = escape(&item, &range_item);
          if (range_item) error("a class escape as the end of a range");
        }
        if (hi < c) error("a range whose end is before its start");
      }
      cls.items.push_back({ClassItem::kRange, c, hi});
    }
    return class_node(std::move(cls));
  }

  std::string source_;
  std::vector<char32_t> p_;
  size_t i_ = 0;
  bool fold_ = false;
  Regex::Program* program_;
};

class Emitter {
 public:
  explicit Emitter(Regex::Program* program) : program_(program) {}

  void emit_program(const Node& n, size_t code) {
    code_ = code;
    emit(n);
    add({Op::kMatch});
  }

 private:
  std::vector<Inst>& code() { return program_->codes[code_]; }
  int here() { return static_cast<int>(code().size()); }
  int add(Inst in) {
    code().push_back(in);
    return here() - 1;
  }

  void emit(const Node& n) {
    switch (n.kind) {
      case Node::kEmpty: return;
      case Node::kChar: {
        Inst in{Op::kChar};
        in.c = n.c;
        in.fold = n.fold;
        add(in);
        return;
      }
      case Node::kClass: {
        Inst in{Op::kClass};
        in.x = n.cls;
        add(in);
        return;
      }
      case Node::kConcat:
        for (const Node& k : n.kids) emit(k);
        return;
      case Node::kAlt: {
        std::vector<int> jumps;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 < n.kids.size()) {
            int split = add({Op::kSplit});
            code()[split].x = here();
            emit(n.kids[i]);
            jumps.push_back(add({Op::kJmp}));
            code()[split].y = here();
          } else {
            emit(n.kids[i]);
          }
        }
        for (int j : jumps) code()[j].x = here();
        return;
      }
      case Node::kRepeat: {
        const Node& body = n.kids[0];
        for (int i = 0; i < n.min; ++i) emit(body);
        if (n.max == -1) {
          int split = add({Op::kSplit});
          int body_start = here();
          emit(body);
          Inst back{Op::kJmp};
          back.x = split;
          add(back);
          set_split(split, body_start, here(), n.greedy);
        } else {
          std::vector<int> splits;
          for (int i = n.min; i < n.max; ++i) {
            splits.push_back(add({Op::kSplit}));
            code()[splits.back()].x = here();
            emit(body);
          }
          for (int s : splits) set_split(s, code()[s].x, here(), n.greedy);
        }
        return;
      }
      case Node::kLook: {
        size_t sub = program_->codes.size();
        program_->codes.emplace_back();
        Emitter inner(program_);
        inner.emit_program(n.kids[0], sub);
        Inst in{Op::kLook};
        in.x = static_cast<int>(sub);
        in.negate = n.negate;
        add(in);
        return;
      }
    }
  }

  void set_split(int at, int body, int after, bool greedy) {
    code()[at].x = greedy ? body : after;
    code()[at].y = greedy ? after : body;
  }

  Regex::Program* program_;
  size_t code_ = 0;
};

// A pathological pattern (catastrophic backtracking) fails with an error instead of hanging: one find() may
// take a million steps plus a thousand per character it searches.
size_t step_budget(size_t characters) { return (size_t{1} << 20) + 1024 * characters; }

bool run(const Regex::Program& p, size_t code, const std::u32string& t, size_t start, size_t* end,
         const std::string& pattern, size_t& steps, size_t budget) {
  const std::vector<Inst>& prog = p.codes[code];
  std::vector<std::pair<int, size_t>> stack{{0, start}};
  while (!stack.empty()) {
    int pc = stack.back().first;
    size_t pos = stack.back().second;
    stack.pop_back();
    for (bool alive = true; alive;) {
      if (++steps > budget)
        fail(Status::kInvalidArgument, "regex '", pattern, "': too much backtracking at character ", start);
      const Inst& in = prog[pc];
      switch (in.op) {
        case Op::kChar:
          if (pos < t.size() && (in.fold ? unicode::simple_fold(t[pos]) : t[pos]) == in.c) ++pos, ++pc;
          else alive = false;
          break;
        case Op::kClass:
          if (pos < t.size() && p.classes[in.x].matches(t[pos])) ++pos, ++pc;
          else alive = false;
          break;
        case Op::kSplit:
          stack.emplace_back(in.y, pos);
          pc = in.x;
          break;
        case Op::kJmp:
          pc = in.x;
          break;
        case Op::kLook: {
          size_t ignored;
          if (run(p, static_cast<size_t>(in.x), t, pos, &ignored, pattern, steps, budget) != in.negate) ++pc;
          else alive = false;
          break;
        }
        case Op::kMatch:
          *end = pos;
          return true;
      }
    }
  }
  return false;
}

}  // namespace

Regex::Regex(const std::string& pattern) : pattern_(pattern), program_(std::make_unique<Program>()) {
  Node root = Parser(pattern, program_.get()).parse();
  program_->codes.emplace_back();
  Emitter(program_.get()).emit_program(root, 0);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::find(const std::u32string& text, size_t from, size_t* begin, size_t* end) const {
  size_t steps = 0;
  const size_t budget = step_budget(text.size() - std::min(from, text.size()) + 1);
  for (size_t start = from; start <= text.size(); ++start) {
    if (run(*program_, 0, text, start, end, pattern_, steps, budget)) {
      *begin = start;
      return true;
    }
  }
  return false;
}

}  // namespace mb
