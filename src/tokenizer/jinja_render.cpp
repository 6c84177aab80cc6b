// Chat templates, tree to text: Python's (jinja2's) semantics for values, scopes, loops, filters, tests and
// the string and dict methods templates call.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "core/error.h"
#include "tokenizer/jinja_tree.h"

namespace mb::jinja {
namespace {

using K = Value::Kind;

class Renderer {
 public:
  explicit Renderer(const Value& context) { scopes_.emplace_back(); globals_ = context; }

  void run(const Template::Node& n, std::string* out) {
    switch (n.type) {
      case Template::Node::kBody:
        for (const auto& k : n.body) run(*k, out);
        return;
      case Template::Node::kText: *out += n.text; return;
      case Template::Node::kOutput: *out += eval(*n.expr).str(); return;
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
        if (seq.kind == K::kList) items = *seq.list;
        else if (seq.kind == K::kDict)
          for (const auto& kv : *seq.dict) items.push_back(Value::string(kv.first));
        else if (seq.kind == K::kString)
          for (char c : seq.s) items.push_back(Value::string(std::string(1, c)));
        else if (seq.defined() && seq.kind != K::kNone)
          fail(Status::kInvalidArgument, "chat template: cannot loop over ", seq.repr());
        const int64_t count = static_cast<int64_t>(items.size());
        for (int64_t k = 0; k < count; ++k) {
          scopes_.emplace_back();
          auto& scope = scopes_.back();
          if (n.targets.size() == 1) {
            scope[n.targets[0]] = items[k];
          } else {
            const Value& item = items[k];
            if (item.kind != K::kList || item.list->size() != n.targets.size())
              fail(Status::kInvalidArgument, "chat template: cannot unpack ", item.repr(), " into ", n.targets.size(), " names");
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
  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    if (const Value* v = globals_.get(name)) return *v;
    return Value();
  }

  [[noreturn]] static void type_error(const std::string& what) { fail(Status::kInvalidArgument, "chat template: ", what); }

  static int64_t as_int(const Value& v, const char* what) {
    if (v.kind == K::kInt) return v.i;
    if (v.kind == K::kBool) return v.b;
    type_error(std::string(what) + " must be an integer, not " + v.repr());
  }

  static std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right) {
    const std::string set = chars && chars->kind == K::kString ? chars->s : std::string(" \t\n\r\v\f");
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && set.find(s[b]) != std::string::npos) ++b;
    if (right)
      while (e > b && set.find(s[e - 1]) != std::string::npos) --e;
    return s.substr(b, e - b);
  }

  Value call_method(const Value& obj, const std::string& name, const std::vector<Value>& args) {
    auto arg = [&](size_t k) -> const Value* { return k < args.size() ? &args[k] : nullptr; };
    if (obj.kind == K::kString) {
      const std::string& s = obj.s;
      if (name == "startswith" || name == "endswith") {
        if (!arg(0) || arg(0)->kind != K::kString) type_error(name + "() needs a string");
        const std::string& x = arg(0)->s;
        bool r = x.size() <= s.size() && (name == "startswith" ? s.compare(0, x.size(), x) == 0
                                                               : s.compare(s.size() - x.size(), x.size(), x) == 0);
        return Value::boolean(r);
      }
      if (name == "strip") return Value::string(strip_chars(s, arg(0), true, true));
      if (name == "lstrip") return Value::string(strip_chars(s, arg(0), true, false));
      if (name == "rstrip") return Value::string(strip_chars(s, arg(0), false, true));
      if (name == "upper" || name == "lower") {
        std::string r = s;
        for (char& c : r) c = static_cast<char>(name == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
        return Value::string(r);
      }
      if (name == "split") {
        Value out = Value::new_list();
        if (!arg(0) || arg(0)->kind == K::kNone) {  // on runs of white space
          size_t p = 0;
          while (true) {
            p = s.find_first_not_of(" \t\n\r\v\f", p);
            if (p == std::string::npos) break;
            size_t e = s.find_first_of(" \t\n\r\v\f", p);
            out.list->push_back(Value::string(s.substr(p, e == std::string::npos ? std::string::npos : e - p)));
            if (e == std::string::npos) break;
            p = e;
          }
          return out;
        }
        if (arg(0)->kind != K::kString || arg(0)->s.empty()) type_error("split() needs a non-empty separator");
        const std::string& sep = arg(0)->s;
        size_t p = 0;
        for (size_t f; (f = s.find(sep, p)) != std::string::npos; p = f + sep.size()) out.list->push_back(Value::string(s.substr(p, f - p)));
        out.list->push_back(Value::string(s.substr(p)));
        return out;
      }
      if (name == "replace") {
        if (!arg(0) || !arg(1) || arg(0)->kind != K::kString || arg(1)->kind != K::kString) type_error("replace() needs two strings");
        if (arg(0)->s.empty()) type_error("replace() of an empty string is not supported");
        std::string r;
        size_t p = 0;
        for (size_t f; (f = s.find(arg(0)->s, p)) != std::string::npos; p = f + arg(0)->s.size()) r += s.substr(p, f - p) + arg(1)->s;
        return Value::string(r + s.substr(p));
      }
    }
    if (obj.kind == K::kDict) {
      if (name == "get") {
        const Value* v = arg(0) && arg(0)->kind == K::kString ? obj.get(arg(0)->s) : nullptr;
        return v ? *v : (arg(1) ? *arg(1) : Value::none());
      }
      if (name == "items" || name == "keys" || name == "values") {
        Value out = Value::new_list();
        for (const auto& [k, v] : *obj.dict) {
          if (name == "keys") out.list->push_back(Value::string(k));
          else if (name == "values") out.list->push_back(v);
          else {
            Value pair = Value::new_list();
            pair.list->push_back(Value::string(k));
            pair.list->push_back(v);
            out.list->push_back(pair);
          }
        }
        return out;
      }
    }
    type_error("no method '" + name + "' on " + obj.repr());
  }

  Value filter(const std::string& name, const Value& v, const std::vector<Value>& args,
               const std::vector<std::pair<std::string, Value>>& kwargs) {
    if (name == "trim") return Value::string(strip_chars(v.str(), args.empty() ? nullptr : &args[0], true, true));
    if (name == "length" || name == "count") {
      if (v.kind == K::kString) return Value::integer(static_cast<int64_t>(v.s.size()));
      if (v.kind == K::kList) return Value::integer(static_cast<int64_t>(v.list->size()));
      if (v.kind == K::kDict) return Value::integer(static_cast<int64_t>(v.dict->size()));
      type_error("length of " + v.repr());
    }
    if (name == "string") return Value::string(v.str());
    if (name == "upper" || name == "lower") return call_method(Value::string(v.str()), name, {});
    if (name == "default" || name == "d") return v.defined() ? v : (args.empty() ? Value::string("") : args[0]);
    if (name == "first" || name == "last") {
      if (v.kind != K::kList || v.list->empty()) return Value();
      return name == "first" ? v.list->front() : v.list->back();
    }
    if (name == "join") {
      if (v.kind != K::kList) type_error("join of " + v.repr());
      std::string sep = args.empty() ? "" : args[0].str(), out;
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? sep : "") + (*v.list)[k].str();
      return Value::string(out);
    }
    if (name == "items") return call_method(v, "items", {});
    if (name == "tojson") {
      // transformers' tojson: json.dumps(x, ensure_ascii=False, indent=indent), separators ", " and ": "
      int indent = -1;
      for (const auto& [k, x] : kwargs)
        if (k == "indent") indent = static_cast<int>(as_int(x, "indent"));
      if (!args.empty()) indent = static_cast<int>(as_int(args[0], "indent"));
      return Value::string(python_json(v, indent, 0));
    }
    type_error("unsupported filter '" + name + "'");
  }

  static std::string python_json(const Value& v, int indent, int depth) {
    auto newline = [&](int d) { return indent < 0 ? std::string() : "\n" + std::string(static_cast<size_t>(indent * d), ' '); };
    switch (v.kind) {
      case K::kList: {
        if (v.list->empty()) return "[]";
        std::string out = "[";
        for (size_t k = 0; k < v.list->size(); ++k)
          out += (k ? (indent < 0 ? ", " : ",") : "") + newline(depth + 1) + python_json((*v.list)[k], indent, depth + 1);
        return out + newline(depth) + "]";
      }
      case K::kDict: {
        if (v.dict->empty()) return "{}";
        std::string out = "{";
        for (size_t k = 0; k < v.dict->size(); ++k)
          out += (k ? (indent < 0 ? ", " : ",") : "") + newline(depth + 1) + json::quote((*v.dict)[k].first) + ": " +
                 python_json((*v.dict)[k].second, indent, depth + 1);
        return out + newline(depth) + "}";
      }
      case K::kString: return json::quote(v.s);
      case K::kFloat: return Value::number(v.f).str();
      default: return json::dump(v.to_json());
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
      const Value* v = obj.get(key.s);
      return v ? *v : Value();
    }
    if (obj.kind == K::kList || obj.kind == K::kString) {
      if (key.kind != K::kInt) return Value();
      int64_t n = obj.kind == K::kList ? static_cast<int64_t>(obj.list->size()) : static_cast<int64_t>(obj.s.size());
      int64_t k = key.i < 0 ? key.i + n : key.i;
      if (k < 0 || k >= n) return Value();
      return obj.kind == K::kList ? (*obj.list)[static_cast<size_t>(k)] : Value::string(obj.s.substr(static_cast<size_t>(k), 1));
    }
    return Value();
  }

  Value slice(const Value& obj, const Value* a, const Value* b, const Value* c) {
    const int64_t n = obj.kind == K::kList ? static_cast<int64_t>(obj.list->size())
                      : obj.kind == K::kString ? static_cast<int64_t>(obj.s.size()) : -1;
    if (n < 0) type_error("cannot slice " + obj.repr());
    const int64_t step = c ? as_int(*c, "slice step") : 1;
    if (step == 0) type_error("slice step cannot be zero");
    auto bound = [&](const Value* v, int64_t dflt) {
      if (!v) return dflt;
      int64_t x = as_int(*v, "slice index");
      if (x < 0) x += n;
      return step > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
    };
    int64_t start = bound(a, step > 0 ? 0 : n - 1), stop = bound(b, step > 0 ? n : -1);
    Value out = obj.kind == K::kList ? Value::new_list() : Value::string("");
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
      if (obj.kind == K::kList) out.list->push_back((*obj.list)[static_cast<size_t>(k)]);
      else out.s.push_back(obj.s[static_cast<size_t>(k)]);
    }
    return out;
  }

  Value arith(const std::string& op, const Value& a, const Value& b) {
    if (op == "+") {
      if (a.kind == K::kString && b.kind == K::kString) return Value::string(a.s + b.s);
      if (a.kind == K::kList && b.kind == K::kList) {
        Value out = Value::new_list();
        *out.list = *a.list;
        out.list->insert(out.list->end(), b.list->begin(), b.list->end());
        return out;
      }
    }
    const bool ints = (a.kind == K::kInt || a.kind == K::kBool) && (b.kind == K::kInt || b.kind == K::kBool);
    const bool nums = ints || ((a.kind == K::kFloat || a.kind == K::kInt) && (b.kind == K::kFloat || b.kind == K::kInt));
    if (!nums) type_error("cannot apply '" + op + "' to " + a.repr() + " and " + b.repr());
    const double x = a.kind == K::kFloat ? a.f : double(a.kind == K::kBool ? a.b : a.i);
    const double y = b.kind == K::kFloat ? b.f : double(b.kind == K::kBool ? b.b : b.i);
    if (ints && op != "/") {
      int64_t p = a.kind == K::kBool ? a.b : a.i, q = b.kind == K::kBool ? b.b : b.i;
      if (op == "+") return Value::integer(p + q);
      if (op == "-") return Value::integer(p - q);
      if (op == "*") return Value::integer(p * q);
      if (q == 0) type_error("division by zero");
      int64_t fl = p / q - ((p % q != 0) && ((p < 0) != (q < 0)));  // Python floors
      if (op == "//") return Value::integer(fl);
      if (op == "%") return Value::integer(p - fl * q);
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
    if (a.kind == K::kString && b.kind == K::kString) return a.s < b.s;
    auto num = [&](const Value& v) {
      if (v.kind == K::kInt) return double(v.i);
      if (v.kind == K::kFloat) return v.f;
      if (v.kind == K::kBool) return double(v.b);
      type_error("cannot compare " + a.repr() + " and " + b.repr());
    };
    return num(a) < num(b);
  }

  Value eval(const Expr& e) {
    switch (e.type) {
      case Expr::kLiteral: return e.literal;
      case Expr::kName: return lookup(e.name);
      case Expr::kAttr: {
        Value obj = eval(*e.kids[0]);
        const Value* v = obj.get(e.name);
        return v ? *v : Value();  // methods are looked up by kCall
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
            const double n = std::ceil((double(stop) - double(start)) / double(step));
            if (n > double(1 << 20)) type_error("range() of more than a million numbers");
            Value out = Value::new_list();
            for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) out.list->push_back(Value::integer(k));
            return out;
          }
          if (callee.name == "raise_exception")
            fail(Status::kInvalidArgument, "chat template raised: ", args.empty() ? "" : args[0].str());
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
        if (v.kind == K::kInt) return Value::integer(-v.i);
        if (v.kind == K::kFloat) return Value::number(-v.f);
        type_error("cannot negate " + v.repr());
      }
      case Expr::kCond: return eval(*e.kids[0]).truthy() ? eval(*e.kids[1]) : eval(*e.kids[2]);
      case Expr::kList: {
        Value out = Value::new_list();
        for (const auto& k : e.kids) out.list->push_back(eval(*k));
        return out;
      }
      case Expr::kDict: {
        Value out = Value::new_dict();
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) out.set(eval(*e.kids[k]).str(), eval(*e.kids[k + 1]));
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
        if (op == "==") return Value::boolean(equal(a, b));
        if (op == "!=") return Value::boolean(!equal(a, b));
        if (op == "<") return Value::boolean(less(a, b));
        if (op == ">") return Value::boolean(less(b, a));
        if (op == "<=") return Value::boolean(!less(b, a));
        if (op == ">=") return Value::boolean(!less(a, b));
        if (op == "~") return Value::string(a.str() + b.str());
        if (op == "in" || op == "not in") {
          bool found = false;
          if (b.kind == K::kString && a.kind == K::kString) found = b.s.find(a.s) != std::string::npos;
          else if (b.kind == K::kList)
            for (const Value& x : *b.list) found = found || equal(a, x);
          else if (b.kind == K::kDict) found = a.kind == K::kString && b.get(a.s);
          else if (b.defined() && b.kind != K::kNone) type_error("'in' on " + b.repr());
          else type_error("'in' on an undefined value");
          return Value::boolean(found != (op == "not in"));
        }
        return arith(op, a, b);
      }
    }
    return Value();
  }

  std::vector<std::map<std::string, Value>> scopes_;
  Value globals_;
};

}  // namespace

std::string render_template(const Template::Node& root, const Value& context) {
  std::string out;
  Renderer(context).run(root, &out);
  return out;
}

}  // namespace mb::jinja
