// Chat templates, tree to text: Python's (jinja2's) semantics for values, scopes, loops, filters, tests and
// the string and dict methods templates call.
//
// A template comes from a model's files, so the renderer also keeps it from hanging or exhausting memory:
// range() takes at most 100,000 numbers (as jinja2's sandbox, in which transformers renders chat templates);
// the rendered text and every string it makes are at most 16 MiB and a list at most a million elements; and
// the whole rendering may take at most 20 million units of work (a statement or expression evaluated, a list
// element or 16 bytes of text copied or searched). Integers are 64-bit, and an operation that would overflow
// them is refused (Python's have no limit). Each limit fails with kInvalidArgument naming it.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <map>

#include "core/error.h"
#include "tokenizer/jinja_tree.h"

namespace mb::jinja {
namespace {

using K = Value::Kind;

constexpr int64_t kMaxRange = 100000;
constexpr size_t kMaxText = 16 << 20;
constexpr size_t kMaxItems = 1 << 20;
constexpr uint64_t kMaxWork = 20'000'000;
constexpr size_t kBytesPerUnit = 16;  // of text copied or searched, a unit of work
constexpr uint64_t kLoopUnits = 10;   // a loop's turn (its scope and its `loop` variable made)
constexpr size_t kBriefText = 80;     // of a value quoted in an error message
constexpr size_t kRaisedText = 1000;  // of raise_exception()'s message

[[noreturn]] void type_error(const std::string& what) { fail(Status::kInvalidArgument, "chat template: ", what); }

// Where a text occurs in another, in time linear in both (Knuth-Morris-Pratt): std::string::find may take
// |text| x |needle| steps, which a template's long needle over long message contents would turn into a hang.
class Finder {
 public:
  explicit Finder(const std::string& needle) : needle_(needle), border_(needle.size(), 0) {
    for (size_t i = 1, k = 0; i < needle_.size(); ++i) {
      while (k > 0 && needle_[i] != needle_[k]) k = border_[k - 1];
      if (needle_[i] == needle_[k]) ++k;
      border_[i] = k;
    }
  }
  // the first occurrence in `text` at or after `from`, or npos
  size_t find(const std::string& text, size_t from) const {
    const size_t m = needle_.size();
    if (m == 0) return from <= text.size() ? from : std::string::npos;
    for (size_t i = from, k = 0; i < text.size(); ++i) {
      while (k > 0 && text[i] != needle_[k]) k = border_[k - 1];
      if (text[i] == needle_[k] && ++k == m) return i + 1 - m;
    }
    return std::string::npos;
  }

 private:
  const std::string& needle_;
  std::vector<size_t> border_;  // border_[i]: the longest proper border of needle[0..i]
};

class Renderer {
 public:
  explicit Renderer(const Value& context) { scopes_.emplace_back(); globals_ = context; }

  void run(const Template::Node& n, std::string* out) {
    spend(1);
    switch (n.type) {
      case Template::Node::kBody:
        for (const auto& k : n.body) run(*k, out);
        return;
      case Template::Node::kText: append(out, n.text); return;
      case Template::Node::kOutput: append(out, text_of(eval(*n.expr))); return;
      case Template::Node::kIf:
        for (const auto& [cond, branch] : n.branches)
          if (!cond || eval(*cond).truthy()) {
            for (const auto& k : branch->body) run(*k, out);
            return;
          }
        return;
      case Template::Node::kSet: {
        Value v = eval(*n.expr);
        if (n.targets.size() == 1) {
          scopes_.back()[n.targets[0]] = v;
        } else {
          Value ns = lookup(n.targets[0]);
          if (ns.kind != K::kDict || !ns.is_namespace)
            fail(Status::kInvalidArgument, "chat template: '", n.targets[0], "' is not a namespace");
          ns.set(n.targets[1], v);
        }
        return;
      }
      case Template::Node::kFor: {
        Value seq = eval(*n.expr);
        std::vector<Value> items;
        if (seq.kind == K::kList) {
          spend_copy(*seq.list);
          items = *seq.list;
        } else if (seq.kind == K::kDict) {
          make_items(seq.dict->size());
          for (const auto& kv : *seq.dict) items.push_back(Value::string(kv.first));
        } else if (seq.kind == K::kString) {
          make_items(seq.s.size());  // (a value for each character)
          for (char c : seq.s) items.push_back(Value::string(std::string(1, c)));
        } else if (seq.defined() && seq.kind != K::kNone) {
          type_error("cannot loop over " + seq.repr(kBriefText));
        }
        const int64_t count = static_cast<int64_t>(items.size());
        for (int64_t k = 0; k < count; ++k) {
          spend(kLoopUnits);
          scopes_.emplace_back();
          auto& scope = scopes_.back();
          if (n.targets.size() == 1) {
            scope[n.targets[0]] = items[k];
          } else {
            const Value& item = items[k];
            if (item.kind != K::kList || item.list->size() != n.targets.size())
              fail(Status::kInvalidArgument, "chat template: cannot unpack ", item.repr(kBriefText), " into ", n.targets.size(), " names");
            for (size_t t = 0; t < n.targets.size(); ++t) scope[n.targets[t]] = (*item.list)[t];
          }
          Value loop = Value::new_dict();
          loop.set("index", Value::integer(k + 1));
          loop.set("index0", Value::integer(k));
          loop.set("revindex", Value::integer(count - k));
          loop.set("revindex0", Value::integer(count - k - 1));
          loop.set("first", Value::boolean(k == 0));
          loop.set("last", Value::boolean(k == count - 1));
          loop.set("length", Value::integer(count));
          scope["loop"] = loop;
          for (const auto& child : n.body) run(*child, out);
          scopes_.pop_back();
        }
        return;
      }
    }
  }

 private:
  // ---- the limits (see the top of the file) ----------------------------------------------------------------
  void spend(uint64_t units) {
    work_ += units;
    if (work_ > kMaxWork)
      fail(Status::kInvalidArgument, "chat template: rendering took more than ", kMaxWork,
           " steps (a loop that does not end?)");
  }
  // a text of `bytes` about to be made
  void make_text(size_t bytes) {
    if (bytes > kMaxText) type_error("a text longer than 16 MiB");
    spend(bytes / kBytesPerUnit);
  }
  // `more` bytes about to be added to `text`
  void grow(const std::string& text, size_t more) {
    if (text.size() + more > kMaxText) type_error("a text longer than 16 MiB");
    spend(more / kBytesPerUnit);
  }
  // a list of `n` elements about to be made: refused past kMaxItems, and charged
  static void check_items(size_t n) {
    if (n > kMaxItems) type_error("a list of more than " + std::to_string(kMaxItems) + " elements");
  }
  void make_items(size_t n) {
    check_items(n);
    spend(n);
  }
  // the elements of `list` about to be copied (their strings are copied with them)
  void spend_copy(const Value::List& list) {
    make_items(list.size());
    for (const Value& x : list) spend(x.s.size() / kBytesPerUnit);
  }
  // `v` as it is copied out of a variable, list or dict
  Value copied(Value v) {
    spend(v.s.size() / kBytesPerUnit);
    return v;
  }
  void append(std::string* out, const std::string& text) {
    grow(*out, text.size());
    *out += text;
  }
  // Python's str(v), refused past kMaxText
  std::string text_of(const Value& v) {
    std::string t = v.str(kMaxText);
    make_text(t.size());  // (a text cut at the limit ends in "...", past it)
    return t;
  }

  // ---- values ----------------------------------------------------------------------------------------------
  // a dict's member (looked for one by one), or nullptr
  const Value* member(const Value& dict, const std::string& key) {
    if (dict.kind == K::kDict) spend(dict.dict->size());
    return dict.get(key);
  }

  Value lookup(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return copied(f->second);
    }
    if (const Value* v = globals_.get(name)) return copied(*v);
    return Value();
  }

  static int64_t as_int(const Value& v, const char* what) {
    if (v.kind == K::kInt) return v.i;
    if (v.kind == K::kBool) return v.b;
    type_error(std::string(what) + " must be an integer, not " + v.repr(kBriefText));
  }

  // The elements start, start + step, ... before stop (Python's range and slices), in 128-bit arithmetic:
  // the value after the last may not fit in 64 bits.
  static int64_t count_of(int64_t start, int64_t stop, int64_t step) {
    const __int128 span = step > 0 ? __int128(stop) - start : __int128(start) - stop;
    const __int128 by = step > 0 ? __int128(step) : -__int128(step);
    const __int128 n = span <= 0 ? 0 : (span + by - 1) / by;
    return n > kMaxItems ? int64_t(kMaxItems) + 1 : static_cast<int64_t>(n);
  }
  static int64_t nth(int64_t start, int64_t step, int64_t k) { return static_cast<int64_t>(__int128(start) + __int128(k) * step); }

  std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right) {
    bool strip[256] = {};
    if (chars && chars->kind == K::kString)
      for (unsigned char c : chars->s) strip[c] = true;
    else
      for (unsigned char c : std::string(" \t\n\r\v\f")) strip[c] = true;
    spend(s.size() / kBytesPerUnit);
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && strip[static_cast<unsigned char>(s[b])]) ++b;
    if (right)
      while (e > b && strip[static_cast<unsigned char>(s[e - 1])]) --e;
    return s.substr(b, e - b);
  }

  Value call_method(const Value& obj, const std::string& name, const std::vector<Value>& args) {
    auto arg = [&](size_t k) -> const Value* { return k < args.size() ? &args[k] : nullptr; };
    if (obj.kind == K::kString) {
      const std::string& s = obj.s;
      if (name == "startswith" || name == "endswith") {
        if (!arg(0) || arg(0)->kind != K::kString) type_error(name + "() needs a string");
        const std::string& x = arg(0)->s;
        spend(x.size() / kBytesPerUnit);
        bool r = x.size() <= s.size() && (name == "startswith" ? s.compare(0, x.size(), x) == 0
                                                               : s.compare(s.size() - x.size(), x.size(), x) == 0);
        return Value::boolean(r);
      }
      if (name == "strip") return Value::string(strip_chars(s, arg(0), true, true));
      if (name == "lstrip") return Value::string(strip_chars(s, arg(0), true, false));
      if (name == "rstrip") return Value::string(strip_chars(s, arg(0), false, true));
      if (name == "upper" || name == "lower") {
        make_text(s.size());
        std::string r = s;
        for (char& c : r) c = static_cast<char>(name == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
        return Value::string(r);
      }
      if (name == "split") {
        Value out = Value::new_list();
        spend(s.size() / kBytesPerUnit);
        auto part = [&](size_t from, size_t length) {
          check_items(out.list->size() + 1);
          spend(1);
          out.push(Value::string(s.substr(from, length)));
        };
        if (!arg(0) || arg(0)->kind == K::kNone) {  // on runs of white space
          size_t p = 0;
          while (true) {
            p = s.find_first_not_of(" \t\n\r\v\f", p);
            if (p == std::string::npos) break;
            size_t e = s.find_first_of(" \t\n\r\v\f", p);
            part(p, e == std::string::npos ? std::string::npos : e - p);
            if (e == std::string::npos) break;
            p = e;
          }
          return out;
        }
        if (arg(0)->kind != K::kString || arg(0)->s.empty()) type_error("split() needs a non-empty separator");
        const std::string& sep = arg(0)->s;
        const Finder finder(sep);
        size_t p = 0;
        for (size_t f; (f = finder.find(s, p)) != std::string::npos; p = f + sep.size()) part(p, f - p);
        part(p, std::string::npos);
        return out;
      }
      if (name == "replace") {
        if (!arg(0) || !arg(1) || arg(0)->kind != K::kString || arg(1)->kind != K::kString) type_error("replace() needs two strings");
        if (arg(0)->s.empty()) type_error("replace() of an empty string is not supported");
        const std::string &from = arg(0)->s, &to = arg(1)->s;
        const Finder finder(from);
        spend(s.size() / kBytesPerUnit);
        std::string r;
        size_t p = 0;
        for (size_t f; (f = finder.find(s, p)) != std::string::npos; p = f + from.size()) {
          grow(r, (f - p) + to.size());
          r.append(s, p, f - p);
          r += to;
        }
        grow(r, s.size() - p);
        return Value::string(r + s.substr(p));
      }
    }
    if (obj.kind == K::kDict) {
      if (name == "get") {
        const Value* v = arg(0) && arg(0)->kind == K::kString ? member(obj, arg(0)->s) : nullptr;
        return v ? copied(*v) : (arg(1) ? *arg(1) : Value::none());
      }
      if (name == "items" || name == "keys" || name == "values") {
        make_items(obj.dict->size());
        Value out = Value::new_list();
        for (const auto& [k, v] : *obj.dict) {
          if (name == "keys") out.push(Value::string(k));
          else if (name == "values") out.push(copied(v));
          else {
            Value pair = Value::new_list();
            pair.push(Value::string(k));
            pair.push(copied(v));
            out.push(pair);
          }
        }
        return out;
      }
    }
    type_error("no method '" + name + "' on " + obj.repr(kBriefText));
  }

  Value filter(const std::string& name, const Value& v, const std::vector<Value>& args,
               const std::vector<std::pair<std::string, Value>>& kwargs) {
    if (name == "trim") return Value::string(strip_chars(text_of(v), args.empty() ? nullptr : &args[0], true, true));
    if (name == "length" || name == "count") {
      if (v.kind == K::kString) return Value::integer(static_cast<int64_t>(v.s.size()));
      if (v.kind == K::kList) return Value::integer(static_cast<int64_t>(v.list->size()));
      if (v.kind == K::kDict) return Value::integer(static_cast<int64_t>(v.dict->size()));
      type_error("length of " + v.repr(kBriefText));
    }
    if (name == "string") return Value::string(text_of(v));
    if (name == "upper" || name == "lower") return call_method(Value::string(text_of(v)), name, {});
    if (name == "default" || name == "d") return v.defined() ? v : (args.empty() ? Value::string("") : args[0]);
    if (name == "first" || name == "last") {
      if (v.kind != K::kList || v.list->empty()) return Value();
      return copied(name == "first" ? v.list->front() : v.list->back());
    }
    if (name == "join") {
      if (v.kind != K::kList) type_error("join of " + v.repr(kBriefText));
      const std::string sep = args.empty() ? "" : text_of(args[0]);
      std::string out;
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) append(&out, sep);
        append(&out, text_of((*v.list)[k]));
      }
      return Value::string(out);
    }
    if (name == "items") return call_method(v, "items", {});
    if (name == "tojson") {
      // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=indent), separators ", " and ": "; an
      // indent of 0 or less only breaks lines
      int64_t indent = -1;
      for (const auto& [k, x] : kwargs)
        if (k == "indent") indent = std::max<int64_t>(as_int(x, "indent"), 0);
      if (!args.empty()) indent = std::max<int64_t>(as_int(args[0], "indent"), 0);
      if (indent > static_cast<int64_t>(kMaxText)) type_error("an indent longer than 16 MiB");
      std::string out;
      python_json(v, indent, 0, out);
      return Value::string(out);
    }
    type_error("unsupported filter '" + name + "'");
  }

  // indent < 0: on one line
  void python_json(const Value& v, int64_t indent, int depth, std::string& out) {
    auto newline = [&](int d) {
      if (indent < 0) return;
      const size_t spaces = static_cast<size_t>(indent) * static_cast<size_t>(d);
      grow(out, 1 + spaces);
      out += '\n';
      out.append(spaces, ' ');
    };
    spend(1);
    switch (v.kind) {
      case K::kList: {
        if (v.list->empty()) return append(&out, "[]");
        out += "[";
        for (size_t k = 0; k < v.list->size(); ++k) {
          if (k) append(&out, indent < 0 ? ", " : ",");
          newline(depth + 1);
          python_json((*v.list)[k], indent, depth + 1, out);
        }
        newline(depth);
        return append(&out, "]");
      }
      case K::kDict: {
        if (v.dict->empty()) return append(&out, "{}");
        out += "{";
        for (size_t k = 0; k < v.dict->size(); ++k) {
          if (k) append(&out, indent < 0 ? ", " : ",");
          newline(depth + 1);
          append(&out, json::quote((*v.dict)[k].first) + ": ");
          python_json((*v.dict)[k].second, indent, depth + 1, out);
        }
        newline(depth);
        return append(&out, "}");
      }
      case K::kString: return append(&out, json::quote(v.s));
      case K::kFloat: return append(&out, Value::number(v.f).str());
      default: return append(&out, json::dump(v.to_json()));
    }
  }

  bool test(const std::string& name, const Value& v) {
    if (name == "defined") return v.defined();
    if (name == "undefined") return !v.defined();
    if (name == "none") return v.kind == K::kNone;
    if (name == "string") return v.kind == K::kString;
    if (name == "number") return v.kind == K::kInt || v.kind == K::kFloat;
    if (name == "integer") return v.kind == K::kInt;
    if (name == "mapping") return v.kind == K::kDict;
    if (name == "sequence" || name == "iterable") return v.kind == K::kList || v.kind == K::kString || v.kind == K::kDict;
    if (name == "true") return v.kind == K::kBool && v.b;
    if (name == "false") return v.kind == K::kBool && !v.b;
    if (name == "boolean") return v.kind == K::kBool;
    type_error("unsupported test 'is " + name + "'");
  }

  Value index(const Value& obj, const Value& key) {
    if (obj.kind == K::kDict) {
      if (key.kind != K::kString) return Value();
      const Value* v = member(obj, key.s);
      return v ? copied(*v) : Value();
    }
    if (obj.kind == K::kList || obj.kind == K::kString) {
      if (key.kind != K::kInt) return Value();
      int64_t n = obj.kind == K::kList ? static_cast<int64_t>(obj.list->size()) : static_cast<int64_t>(obj.s.size());
      int64_t k = key.i < 0 ? key.i + n : key.i;
      if (k < 0 || k >= n) return Value();
      return obj.kind == K::kList ? copied((*obj.list)[static_cast<size_t>(k)]) : Value::string(obj.s.substr(static_cast<size_t>(k), 1));
    }
    return Value();
  }

  Value slice(const Value& obj, const Value* a, const Value* b, const Value* c) {
    const int64_t n = obj.kind == K::kList ? static_cast<int64_t>(obj.list->size())
                      : obj.kind == K::kString ? static_cast<int64_t>(obj.s.size()) : -1;
    if (n < 0) type_error("cannot slice " + obj.repr(kBriefText));
    const int64_t step = c ? as_int(*c, "slice step") : 1;
    if (step == 0) type_error("slice step cannot be zero");
    auto bound = [&](const Value* v, int64_t dflt) {
      if (!v) return dflt;
      int64_t x = as_int(*v, "slice index");
      if (x < 0) x = x < -n ? -n - 1 : x + n;  // (x + n without overflow; -1 stays below every index)
      return step > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t start = bound(a, step > 0 ? 0 : n - 1), stop = bound(b, step > 0 ? n : -1);
    const int64_t count = count_of(start, stop, step);
    Value out = obj.kind == K::kList ? Value::new_list() : Value::string("");
    if (obj.kind == K::kList) make_items(static_cast<size_t>(count));
    else make_text(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      const size_t at = static_cast<size_t>(nth(start, step, k));
      if (obj.kind == K::kList) out.push(copied((*obj.list)[at]));
      else out.s.push_back(obj.s[at]);
    }
    return out;
  }

  Value arith(const std::string& op, const Value& a, const Value& b) {
    if (op == "+") {
      if (a.kind == K::kString && b.kind == K::kString) {
        make_text(a.s.size() + b.s.size());
        return Value::string(a.s + b.s);
      }
      if (a.kind == K::kList && b.kind == K::kList) {
        make_items(a.list->size() + b.list->size());
        spend_copy(*a.list);
        spend_copy(*b.list);
        Value out = Value::new_list();
        *out.list = *a.list;
        out.list->insert(out.list->end(), b.list->begin(), b.list->end());
        out.depth = std::max(a.depth, b.depth);
        out.holds_namespace = a.holds_namespace || b.holds_namespace;
        return out;
      }
    }
    const bool ints = (a.kind == K::kInt || a.kind == K::kBool) && (b.kind == K::kInt || b.kind == K::kBool);
    const bool nums = ints || ((a.kind == K::kFloat || a.kind == K::kInt) && (b.kind == K::kFloat || b.kind == K::kInt));
    if (!nums) type_error("cannot apply '" + op + "' to " + a.repr(kBriefText) + " and " + b.repr(kBriefText));
    const double x = a.kind == K::kFloat ? a.f : double(a.kind == K::kBool ? a.b : a.i);
    const double y = b.kind == K::kFloat ? b.f : double(b.kind == K::kBool ? b.b : b.i);
    if (ints && op != "/") {
      const int64_t p = a.kind == K::kBool ? a.b : a.i, q = b.kind == K::kBool ? b.b : b.i;
      auto overflow = [&] {
        type_error("integer overflow in " + std::to_string(p) + " " + op + " " + std::to_string(q) +
                   " (integers here are 64-bit)");
      };
      int64_t r = 0;
      if (op == "+" || op == "-" || op == "*") {
        const bool over = op == "+"   ? __builtin_add_overflow(p, q, &r)
                          : op == "-" ? __builtin_sub_overflow(p, q, &r)
                                      : __builtin_mul_overflow(p, q, &r);
        if (over) overflow();
        return Value::integer(r);
      }
      if (q == 0) type_error("division by zero");
      if (p == INT64_MIN && q == -1) overflow();
      int64_t rem = p % q;  // Python's floor division and modulo: the remainder takes the divisor's sign
      const bool adjust = rem != 0 && ((rem < 0) != (q < 0));
      if (op == "//") return Value::integer(p / q - adjust);
      if (op == "%") return Value::integer(adjust ? rem + q : rem);
    }
    if (op == "+") return Value::number(x + y);
    if (op == "-") return Value::number(x - y);
    if (op == "*") return Value::number(x * y);
    if (y == 0) type_error("division by zero");
    if (op == "/") return Value::number(x / y);
    if (op == "//") return Value::number(std::floor(x / y));
    return Value::number(x - std::floor(x / y) * y);
  }

  bool less(const Value& a, const Value& b) {
    if (a.kind == K::kString && b.kind == K::kString) {
      spend(std::min(a.s.size(), b.s.size()) / kBytesPerUnit);
      return a.s < b.s;
    }
    auto num = [&](const Value& v) {
      if (v.kind == K::kInt) return double(v.i);
      if (v.kind == K::kFloat) return v.f;
      if (v.kind == K::kBool) return double(v.b);
      type_error("cannot compare " + a.repr(kBriefText) + " and " + b.repr(kBriefText));
    };
    return num(a) < num(b);
  }

  bool equal_values(const Value& a, const Value& b) {
    uint64_t work = 0;
    const bool r = equal(a, b, &work);
    spend(work);
    return r;
  }

  Value eval(const Expr& e) {
    spend(1);
    switch (e.type) {
      case Expr::kLiteral: return copied(e.literal);
      case Expr::kName: return lookup(e.name);
      case Expr::kAttr: {
        Value obj = eval(*e.kids[0]);
        const Value* v = member(obj, e.name);
        return v ? copied(*v) : Value();  // methods are looked up by kCall
      }
      case Expr::kIndex: return index(eval(*e.kids[0]), eval(*e.kids[1]));
      case Expr::kSlice: {
        Value obj = eval(*e.kids[0]);
        Value v[3];
        const Value* p[3] = {nullptr, nullptr, nullptr};
        for (int k = 0; k < 3; ++k)
          if (e.kids[static_cast<size_t>(k) + 1]) v[k] = eval(*e.kids[static_cast<size_t>(k) + 1]), p[k] = &v[k];
        return slice(obj, p[0], p[1], p[2]);
      }
      case Expr::kCall: {
        std::vector<Value> args;
        std::vector<std::pair<std::string, Value>> kwargs;
        const Expr& callee = *e.kids[0];
        if (callee.type == Expr::kAttr) {
          Value obj = eval(*callee.kids[0]);
          for (size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k]));
          return call_method(obj, callee.name, args);
        }
        for (size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k]));
        for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
        if (callee.type == Expr::kName) {
          if (callee.name == "namespace") {
            Value ns = Value::new_dict();
            ns.is_namespace = true;
            for (auto& [k, x] : kwargs) ns.set(k, x);
            return ns;
          }
          if (callee.name == "range") {
            int64_t start = 0, stop, step = 1;
            if (args.size() == 1) stop = as_int(args[0], "range()");
            else if (args.size() >= 2) start = as_int(args[0], "range()"), stop = as_int(args[1], "range()");
            else type_error("range() needs arguments");
            if (args.size() == 3) step = as_int(args[2], "range()");
            if (step == 0) type_error("range() step cannot be zero");
            const int64_t n = count_of(start, stop, step);
            if (n > kMaxRange)
              type_error("range() of more than 100000 numbers (jinja2's sandbox, in which transformers renders chat "
                         "templates, refuses them too)");
            make_items(static_cast<size_t>(n));
            Value out = Value::new_list();
            for (int64_t k = 0; k < n; ++k) out.push(Value::integer(nth(start, step, k)));
            return out;
          }
          if (callee.name == "raise_exception")
            fail(Status::kInvalidArgument, "chat template raised: ", args.empty() ? "" : args[0].str(kRaisedText));
        }
        type_error("unsupported function call");
      }
      case Expr::kFilter: {
        Value v = eval(*e.kids[0]);
        std::vector<Value> args;
        std::vector<std::pair<std::string, Value>> kwargs;
        for (size_t k = 1; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k]));
        for (const auto& [k, x] : e.kwargs) kwargs.emplace_back(k, eval(*x));
        return filter(e.name, v, args, kwargs);
      }
      case Expr::kTest: return Value::boolean(test(e.name, eval(*e.kids[0])) != e.negated);
      case Expr::kNot: return Value::boolean(!eval(*e.kids[0]).truthy());
      case Expr::kNeg: {
        Value v = eval(*e.kids[0]);
        if (v.kind == K::kInt) {
          if (v.i == INT64_MIN) type_error("integer overflow in -(" + std::to_string(v.i) + ") (integers here are 64-bit)");
          return Value::integer(-v.i);
        }
        if (v.kind == K::kFloat) return Value::number(-v.f);
        type_error("cannot negate " + v.repr(kBriefText));
      }
      case Expr::kCond: return eval(*e.kids[0]).truthy() ? eval(*e.kids[1]) : eval(*e.kids[2]);
      case Expr::kList: {
        make_items(e.kids.size());
        Value out = Value::new_list();
        for (const auto& k : e.kids) out.push(eval(*k));
        return out;
      }
      case Expr::kDict: {
        Value out = Value::new_dict();
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) out.set(text_of(eval(*e.kids[k])), eval(*e.kids[k + 1]));
        return out;
      }
      case Expr::kBinary: {
        const std::string& op = e.name;
        if (op == "and") {
          Value a = eval(*e.kids[0]);
          return a.truthy() ? eval(*e.kids[1]) : a;
        }
        if (op == "or") {
          Value a = eval(*e.kids[0]);
          return a.truthy() ? a : eval(*e.kids[1]);
        }
        Value a = eval(*e.kids[0]), b = eval(*e.kids[1]);
        if (op == "==") return Value::boolean(equal_values(a, b));
        if (op == "!=") return Value::boolean(!equal_values(a, b));
        if (op == "<") return Value::boolean(less(a, b));
        if (op == ">") return Value::boolean(less(b, a));
        if (op == "<=") return Value::boolean(!less(b, a));
        if (op == ">=") return Value::boolean(!less(a, b));
        if (op == "~") {
          std::string t = text_of(a);
          append(&t, text_of(b));
          return Value::string(std::move(t));
        }
        if (op == "in" || op == "not in") {
          bool found = false;
          if (b.kind == K::kString && a.kind == K::kString) {
            spend(b.s.size() / kBytesPerUnit);
            found = Finder(a.s).find(b.s, 0) != std::string::npos;
          } else if (b.kind == K::kList) {
            spend(b.list->size());
            for (const Value& x : *b.list)
              if (equal_values(a, x)) {
                found = true;
                break;
              }
          } else if (b.kind == K::kDict) {
            found = a.kind == K::kString && member(b, a.s);
          } else if (b.defined() && b.kind != K::kNone) {
            type_error("'in' on " + b.repr(kBriefText));
          } else {
            type_error("'in' on an undefined value");
          }
          return Value::boolean(found != (op == "not in"));
        }
        return arith(op, a, b);
      }
    }
    return Value();
  }

  std::vector<std::map<std::string, Value>> scopes_;
  Value globals_;
  uint64_t work_ = 0;  // units of work so far (kMaxWork)
};

}  // namespace

std::string render_template(const Template::Node& root, const Value& context) {
  std::string out;
  Renderer(context).run(root, &out);
  return out;
}

}  // namespace mb::jinja
