// Chat templates, text to tree: jinja2's lexing with transformers' settings (trim_blocks, lstrip_blocks,
// no trailing newline), expressions by precedence, and the statements chat templates use.
#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "core/error.h"
#include "tokenizer/jinja_tree.h"

namespace mb::jinja {
namespace {

[[noreturn]] void syntax(const std::string& what, size_t line) {
  fail(Status::kInvalidArgument, "chat template line ", line, ": ", what);
}

// Nesting deeper than this (parentheses, blocks) is refused: the template comes from a file, and the
// parser and renderer recurse.
constexpr int kMaxDepth = 100;

struct DepthGuard {
  DepthGuard(int* depth, size_t line) : depth_(depth) {
    if (++*depth_ > kMaxDepth) syntax("nested more than 100 deep", line);
  }
  ~DepthGuard() { --*depth_; }
  int* depth_;
};

// ---- lexing: text, {{ }}, {% %} and {# #}, with jinja2's whitespace rules ---------------------------------

struct Segment {
  enum Type { kText, kExpr, kStmt, kComment } type;
  std::string text;
  size_t line;
  bool strip_before = false, strip_after = false, keep_indent = false;
};

std::vector<Segment> segments_of(std::string src) {
  if (!src.empty() && src.back() == '\n') src.pop_back();  // keep_trailing_newline=False
  std::vector<Segment> out;
  size_t pos = 0, line = 1;
  auto count_lines = [&](size_t from, size_t to) {
    for (size_t k = from; k < to; ++k) line += src[k] == '\n';
  };
  while (pos < src.size()) {
    size_t open = src.find('{', pos);
    while (open != std::string::npos && open + 1 < src.size() && src[open + 1] != '{' && src[open + 1] != '%' &&
           src[open + 1] != '#')
      open = src.find('{', open + 1);
    if (open == std::string::npos || open + 1 >= src.size()) {
      out.push_back({Segment::kText, src.substr(pos), line});
      break;
    }
    if (open > pos) out.push_back({Segment::kText, src.substr(pos, open - pos), line});
    count_lines(pos, open);
    const char kind = src[open + 1];
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    Segment seg{kind == '{' ? Segment::kExpr : kind == '%' ? Segment::kStmt : Segment::kComment, "", line};
    size_t body = open + 2;
    if (body < src.size() && src[body] == '-') seg.strip_before = true, ++body;
    else if (body < src.size() && src[body] == '+') seg.keep_indent = true, ++body;
    // the closing delimiter, outside string literals
    size_t k = body;
    char quote = 0;
    for (; k + 1 < src.size(); ++k) {
      char c = src[k];
      if (seg.type != Segment::kComment) {
        if (quote) {
          if (c == '\\') ++k;
          else if (c == quote) quote = 0;
          continue;
        }
        if (c == '\'' || c == '"') {
          quote = c;
          continue;
        }
      }
      if (src.compare(k, 2, close) == 0) break;
    }
    if (k + 1 >= src.size()) syntax("'" + src.substr(open, 2) + "' is never closed", line);
    size_t end = k;
    if (end > body && src[end - 1] == '-') seg.strip_after = true, --end;
    seg.text = src.substr(body, end - body);
    count_lines(open, k + 2);
    out.push_back(std::move(seg));
    pos = k + 2;
  }
  // Whitespace: '-' strips all of it next to the tag; otherwise a block or comment tag takes the newline
  // after it (trim_blocks) and the spaces and tabs before it on its own line (lstrip_blocks).
  for (size_t n = 0; n < out.size(); ++n) {
    if (out[n].type != Segment::kText) continue;
    std::string& t = out[n].text;
    if (n > 0) {
      const Segment& prev = out[n - 1];
      if (prev.strip_after) {
        t.erase(0, t.find_first_not_of(" \t\r\n"));
        if (t.find_first_not_of(" \t\r\n") == std::string::npos) t.clear();
      } else if (prev.type != Segment::kExpr && !t.empty() && t[0] == '\n') {
        t.erase(0, 1);
      }
    }
    if (n + 1 < out.size()) {
      const Segment& next = out[n + 1];
      if (next.strip_before) {
        size_t last = t.find_last_not_of(" \t\r\n");
        t.erase(last == std::string::npos ? 0 : last + 1);
      } else if (next.type != Segment::kExpr && !next.keep_indent) {
        size_t last = t.find_last_not_of(" \t");
        bool at_line_start = last == std::string::npos ? n == 0 : t[last] == '\n';
        if (at_line_start) t.erase(last == std::string::npos ? 0 : last + 1);
      }
    }
  }
  return out;
}

// ---- expressions --------------------------------------------------------------------------------------

struct Token {
  enum Type { kName, kString, kInt, kFloat, kOp, kEnd } type;
  std::string text;
};

std::vector<Token> tokens_of(const std::string& s, size_t line) {
  std::vector<Token> out;
  size_t i = 0;
  auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && is_name_char(s[j])) ++j;
      out.push_back({Token::kName, s.substr(i, j - i)});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      bool is_float = j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]));
      if (is_float) {
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      out.push_back({is_float ? Token::kFloat : Token::kInt, s.substr(i, j - i)});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          v.push_back(s[j]);
          continue;
        }
        char e = s[++j];
        switch (e) {
          case 'n': v.push_back('\n'); break;
          case 't': v.push_back('\t'); break;
          case 'r': v.push_back('\r'); break;
          case '\\': v.push_back('\\'); break;
          case '\'': v.push_back('\''); break;
          case '"': v.push_back('"'); break;
          default: v.push_back('\\'); v.push_back(e);  // Python keeps unknown escapes as they are
        }
      }
      if (j >= s.size()) syntax("unterminated string", line);
      out.push_back({Token::kString, v});
      i = j + 1;
    } else {
      static const char* two[] = {"==", "!=", "<=", ">=", "//", "**"};
      std::string op(1, c);
      for (const char* t : two)
        if (s.compare(i, 2, t) == 0) op = t;
      if (std::string("+-*/%~()[]{}.,:|<>=!").find(c) == std::string::npos) syntax(std::string("unexpected '") + c + "'", line);
      out.push_back({Token::kOp, op});
      i += op.size();
    }
  }
  out.push_back({Token::kEnd, ""});
  return out;
}

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, size_t line) : t_(std::move(tokens)), line_(line) {}

  ExprPtr expression() {
    DepthGuard guard(&depth_, line_);
    ExprPtr e = or_expr();
    if (name_is("if")) {
      ++i_;
      ExprPtr cond = or_expr();
      ExprPtr other;
      if (name_is("else")) {
        ++i_;
        other = expression();
      } else {
        other = literal(Value());  // jinja2: undefined when there is no else
      }
      auto c = make(Expr::kCond);
      c->kids = {cond, e, other};
      return c;
    }
    return e;
  }
  // A for loop's iterable: "if" after it would be a loop filter, which is not supported.
  ExprPtr iterable() {
    ExprPtr e = or_expr();
    if (name_is("if")) syntax("{% for ... if ... %} (a loop filter) is not supported", line_);
    return e;
  }
  bool at_end() const { return t_[i_].type == Token::kEnd; }
  bool name_is(const char* n) const { return t_[i_].type == Token::kName && t_[i_].text == n; }
  bool op_is(const char* o) const { return t_[i_].type == Token::kOp && t_[i_].text == o; }
  void expect_op(const char* o) {
    if (!op_is(o)) syntax(std::string("expected '") + o + "', found '" + t_[i_].text + "'", line_);
    ++i_;
  }
  std::string take_name() {
    if (t_[i_].type != Token::kName) syntax("expected a name, found '" + t_[i_].text + "'", line_);
    return t_[i_++].text;
  }

 private:
  static ExprPtr make(Expr::Type type) {
    auto e = std::make_shared<Expr>();
    e->type = type;
    return e;
  }
  static ExprPtr literal(Value v) {
    auto e = make(Expr::kLiteral);
    e->literal = std::move(v);
    return e;
  }
  static ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b) {
    auto e = make(Expr::kBinary);
    e->name = op;
    e->kids = {std::move(a), std::move(b)};
    return e;
  }

  ExprPtr or_expr() {
    ExprPtr e = and_expr();
    while (name_is("or")) ++i_, e = binary("or", e, and_expr());
    return e;
  }
  ExprPtr and_expr() {
    ExprPtr e = not_expr();
    while (name_is("and")) ++i_, e = binary("and", e, not_expr());
    return e;
  }
  ExprPtr not_expr() {
    DepthGuard guard(&depth_, line_);
    if (name_is("not")) {
      ++i_;
      auto e = make(Expr::kNot);
      e->kids = {not_expr()};
      return e;
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr e = concat();
    for (;;) {
      if (op_is("==") || op_is("!=") || op_is("<") || op_is(">") || op_is("<=") || op_is(">=")) {
        std::string op = t_[i_++].text;
        e = binary(op, e, concat());
      } else if (name_is("in")) {
        ++i_;
        e = binary("in", e, concat());
      } else if (name_is("not") && t_[i_ + 1].type == Token::kName && t_[i_ + 1].text == "in") {
        i_ += 2;
        e = binary("not in", e, concat());
      } else {
        return e;
      }
    }
  }
  ExprPtr concat() {
    ExprPtr e = sum();
    while (op_is("~")) ++i_, e = binary("~", e, sum());
    return e;
  }
  ExprPtr sum() {
    ExprPtr e = product();
    while (op_is("+") || op_is("-")) {
      std::string op = t_[i_++].text;
      e = binary(op, e, product());
    }
    return e;
  }
  ExprPtr product() {
    ExprPtr e = unary();
    while (op_is("*") || op_is("/") || op_is("//") || op_is("%")) {
      std::string op = t_[i_++].text;
      e = binary(op, e, unary());
    }
    return e;
  }
  ExprPtr unary() {
    DepthGuard guard(&depth_, line_);
    if (op_is("-")) {
      ++i_;
      auto e = make(Expr::kNeg);
      e->kids = {unary()};
      return e;
    }
    if (op_is("+")) ++i_;
    return filters(postfix(primary()));
  }
  ExprPtr filters(ExprPtr e) {
    for (;;) {
      if (op_is("|")) {
        ++i_;
        auto f = make(Expr::kFilter);
        f->name = take_name();
        f->kids = {e};
        if (op_is("(")) arguments(f.get());
        e = postfix(f);
      } else if (name_is("is")) {
        ++i_;
        auto t = make(Expr::kTest);
        if (name_is("not")) ++i_, t->negated = true;
        t->name = take_name();
        t->kids = {e};
        if (op_is("(")) arguments(t.get());
        e = t;
      } else {
        return e;
      }
    }
  }
  void arguments(Expr* call) {
    expect_op("(");
    while (!op_is(")")) {
      if (t_[i_].type == Token::kName && t_[i_ + 1].type == Token::kOp && t_[i_ + 1].text == "=") {
        std::string key = take_name();
        ++i_;
        call->kwargs.emplace_back(key, expression());
      } else {
        call->kids.push_back(expression());
      }
      if (!op_is(")")) expect_op(",");
    }
    ++i_;
  }
  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      if (op_is(".")) {
        ++i_;
        auto a = make(Expr::kAttr);
        a->name = take_name();
        a->kids = {e};
        e = a;
      } else if (op_is("[")) {
        ++i_;
        ExprPtr parts[3];
        int n = 0;
        bool slice = false;
        for (;;) {
          if (!op_is(":") && !op_is("]")) parts[n] = expression();
          if (op_is(":")) {
            slice = true;
            if (++n > 2) syntax("a slice with more than three parts", line_);
            ++i_;
            continue;
          }
          break;
        }
        expect_op("]");
        auto s = make(slice ? Expr::kSlice : Expr::kIndex);
        s->kids = {e, parts[0]};
        if (slice) s->kids.insert(s->kids.end(), {parts[1], parts[2]});
        e = s;
      } else if (op_is("(")) {
        auto c = make(Expr::kCall);
        c->kids = {e};
        arguments(c.get());
        e = c;
      } else {
        return e;
      }
    }
  }
  ExprPtr primary() {
    const Token& tok = t_[i_];
    switch (tok.type) {
      case Token::kString: {
        ++i_;
        std::string s = tok.text;
        while (t_[i_].type == Token::kString) s += t_[i_++].text;  // adjacent literals join, as in Python
        return literal(Value::string(s));
      }
      case Token::kInt: {
        ++i_;
        errno = 0;
        const long long v = std::strtoll(tok.text.c_str(), nullptr, 10);
        if (errno == ERANGE) syntax("integer " + tok.text.substr(0, 40) + " is too large (integers here are 64-bit)", line_);
        return literal(Value::integer(v));
      }
      case Token::kFloat: ++i_; return literal(Value::number(std::strtod(tok.text.c_str(), nullptr)));  // too large: inf, as in Python
      case Token::kName: {
        ++i_;
        if (tok.text == "true" || tok.text == "True") return literal(Value::boolean(true));
        if (tok.text == "false" || tok.text == "False") return literal(Value::boolean(false));
        if (tok.text == "none" || tok.text == "None") return literal(Value::none());
        auto n = make(Expr::kName);
        n->name = tok.text;
        return n;
      }
      case Token::kOp:
        if (tok.text == "(") {
          ++i_;
          ExprPtr e = expression();
          expect_op(")");
          return e;
        }
        if (tok.text == "[") {
          ++i_;
          auto l = make(Expr::kList);
          while (!op_is("]")) {
            l->kids.push_back(expression());
            if (!op_is("]")) expect_op(",");
          }
          ++i_;
          return l;
        }
        if (tok.text == "{") {
          ++i_;
          auto d = make(Expr::kDict);
          while (!op_is("}")) {
            ExprPtr key = expression();
            expect_op(":");
            d->kids.push_back(key);
            d->kids.push_back(expression());
            if (!op_is("}")) expect_op(",");
          }
          ++i_;
          return d;
        }
        break;
      case Token::kEnd: break;
    }
    syntax("unexpected '" + tok.text + "' in an expression", line_);
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  size_t line_;
  int depth_ = 0;
};

ExprPtr parse_expression(const std::string& text, size_t line) {
  ExprParser p(tokens_of(text, line), line);
  ExprPtr e = p.expression();
  if (!p.at_end()) syntax("unexpected text after an expression: '" + text + "'", line);
  return e;
}

// ---- statements -----------------------------------------------------------------------------------------

class StatementParser {
 public:
  explicit StatementParser(std::vector<Segment> segs) : s_(std::move(segs)) {}

  NodePtr parse() {
    auto root = std::make_shared<Template::Node>();
    std::string end = body(root.get(), {});
    if (!end.empty()) syntax("'" + end + "' without its opening tag", s_[i_ - 1].line);
    return root;
  }

 private:
  static std::string keyword(const std::string& stmt) {
    size_t b = stmt.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = stmt.find_first_of(" \t\r\n", b);
    return stmt.substr(b, e == std::string::npos ? std::string::npos : e - b);
  }
  static std::string rest(const std::string& stmt) {
    size_t b = stmt.find_first_not_of(" \t\r\n");
    size_t e = stmt.find_first_of(" \t\r\n", b);
    return e == std::string::npos ? "" : stmt.substr(e);
  }

  // Parses nodes into `into` until a statement named in `stops`; returns that keyword ("" at the end).
  std::string body(Template::Node* into, const std::vector<std::string>& stops) {
    DepthGuard guard(&depth_, i_ < s_.size() ? s_[i_].line : 0);
    while (i_ < s_.size()) {
      const Segment& seg = s_[i_++];
      if (seg.type == Segment::kComment) continue;
      if (seg.type == Segment::kText) {
        if (seg.text.empty()) continue;
        auto n = std::make_shared<Template::Node>();
        n->type = Template::Node::kText;
        n->text = seg.text;
        into->body.push_back(n);
        continue;
      }
      if (seg.type == Segment::kExpr) {
        auto n = std::make_shared<Template::Node>();
        n->type = Template::Node::kOutput;
        n->expr = parse_expression(seg.text, seg.line);
        into->body.push_back(n);
        continue;
      }
      const std::string kw = keyword(seg.text);
      for (const std::string& stop : stops)
        if (kw == stop) return kw;
      if (kw == "if") into->body.push_back(if_node(seg));
      else if (kw == "for") into->body.push_back(for_node(seg));
      else if (kw == "set") into->body.push_back(set_node(seg));
      else if (kw == "endif" || kw == "endfor" || kw == "elif" || kw == "else") return kw;
      else syntax("unsupported statement '{% " + kw + " %}'", seg.line);
    }
    return "";
  }

  NodePtr if_node(const Segment& first) {
    auto n = std::make_shared<Template::Node>();
    n->type = Template::Node::kIf;
    ExprPtr cond = parse_expression(rest(first.text), first.line);
    for (;;) {
      auto branch = std::make_shared<Template::Node>();
      std::string end = body(branch.get(), {"elif", "else", "endif"});
      n->branches.emplace_back(cond, branch);
      if (end == "endif") return n;
      if (end.empty()) syntax("{% if %} without {% endif %}", first.line);
      const Segment& seg = s_[i_ - 1];
      if (end == "elif") {
        cond = parse_expression(rest(seg.text), seg.line);
      } else {  // else: the last branch
        auto last = std::make_shared<Template::Node>();
        if (body(last.get(), {"endif"}) != "endif") syntax("{% else %} without {% endif %}", seg.line);
        n->branches.emplace_back(nullptr, last);
        return n;
      }
    }
  }

  NodePtr for_node(const Segment& seg) {
    auto n = std::make_shared<Template::Node>();
    n->type = Template::Node::kFor;
    ExprParser p(tokens_of(rest(seg.text), seg.line), seg.line);
    n->targets.push_back(p.take_name());
    while (p.op_is(",")) {
      p.expect_op(",");
      n->targets.push_back(p.take_name());
    }
    if (!p.name_is("in")) syntax("expected 'in' in {% for %}", seg.line);
    p.take_name();
    n->expr = p.iterable();
    if (!p.at_end()) syntax("unexpected text after the iterable of {% for %} (recursive loops are not supported)", seg.line);
    std::string end = body(n.get(), {"endfor", "else"});
    if (end != "endfor") syntax(end.empty() ? "{% for %} without {% endfor %}" : "{% for %}...{% else %} is not supported", seg.line);
    return n;
  }

  NodePtr set_node(const Segment& seg) {
    auto n = std::make_shared<Template::Node>();
    n->type = Template::Node::kSet;
    ExprParser p(tokens_of(rest(seg.text), seg.line), seg.line);
    n->targets.push_back(p.take_name());
    if (p.op_is(".")) {
      p.expect_op(".");
      n->targets.push_back(p.take_name());
    }
    if (!p.op_is("=")) syntax("{% set %} blocks are not supported (expected '=')", seg.line);
    p.expect_op("=");
    n->expr = p.expression();
    if (!p.at_end()) syntax("unexpected text after {% set %}", seg.line);
    return n;
  }

  std::vector<Segment> s_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

NodePtr parse_template(const std::string& source) { return StatementParser(segments_of(source)).parse(); }

}  // namespace mb::jinja
