#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace mb::jinja {

Value Value::from_json(const json::Value& j) {
  switch (j.type()) {
    case json::Type::kNull: return none();
    case json::Type::kBool: return boolean(j.as_bool());
    case json::Type::kInt: return integer(j.as_int());
    case json::Type::kDouble: return number(j.as_number());
    case json::Type::kString: return string(j.as_string());
    case json::Type::kArray: {
      Value v = new_list();
      for (const json::Value& x : j.items()) v.push(from_json(x));
      return v;
    }
    case json::Type::kObject: {
      Value v = new_dict();
      for (const auto& [k, x] : j.members()) {  // (no search for an earlier key: JSON's are given once)
        Value member = from_json(x);
        v.adopt(member);
        v.dict->emplace_back(k, std::move(member));
      }
      return v;
    }
  }
  return Value();
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::kUndefined: case Kind::kNone: return false;
    case Kind::kBool: return b;
    case Kind::kInt: return i != 0;
    case Kind::kFloat: return f != 0;
    case Kind::kString: return !s.empty();
    case Kind::kList: return !list->empty();
    case Kind::kDict: return !dict->empty();
  }
  return false;
}

const Value* Value::get(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  for (const auto& [k, v] : *dict)
    if (k == key) return &v;
  return nullptr;
}

void Value::adopt(const Value& child) {
  const bool namespaced = child.is_namespace || child.holds_namespace;
  if (is_namespace && namespaced) fail(Status::kInvalidArgument, "chat template: a namespace cannot hold a namespace");
  holds_namespace = holds_namespace || namespaced;
  depth = std::max(depth, child.depth + 1);
  if (depth > kMaxDepth) fail(Status::kInvalidArgument, "chat template: lists and dicts nested more than ", kMaxDepth, " deep");
}

void Value::push(Value v) {
  adopt(v);
  list->push_back(std::move(v));
}

void Value::set(const std::string& key, Value v) {
  adopt(v);
  for (auto& [k, x] : *dict)
    if (k == key) {
      x = std::move(v);
      return;
    }
  dict->emplace_back(key, std::move(v));
}

namespace {
std::string float_text(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {  // the shortest text that reads back the same
    std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string t = buf;
  if (t.find_first_of(".eEn") == std::string::npos) t += ".0";  // Python writes 3.0, not 3
  return t;
}
}  // namespace

std::string Value::str(size_t limit) const {
  switch (kind) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return b ? "True" : "False";
    case Kind::kInt: return std::to_string(i);
    case Kind::kFloat: return float_text(f);
    case Kind::kString: return s.size() > limit ? s.substr(0, limit) + "..." : s;
    default: return repr(limit);
  }
}

std::string Value::repr(size_t limit) const {
  std::string out;
  append_repr(out, limit);
  if (out.size() > limit) out.resize(limit), out += "...";
  return out;
}

void Value::append_repr(std::string& out, size_t limit) const {
  if (out.size() > limit) return;
  switch (kind) {
    case Kind::kString: {
      // Python picks single quotes unless the text holds a single quote and no double quote
      const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
      const char q = dq ? '"' : '\'';
      out += q;
      for (char c : s) {
        if (out.size() > limit) return;
        if (c == '\\') out += "\\\\";
        else if (c == q) out += std::string("\\") + q;
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else out.push_back(c);
      }
      out += q;
      return;
    }
    case Kind::kList:
      out += "[";
      for (size_t k = 0; k < list->size() && out.size() <= limit; ++k) {
        if (k) out += ", ";
        (*list)[k].append_repr(out, limit);
      }
      out += "]";
      return;
    case Kind::kDict:
      out += is_namespace ? "<Namespace {" : "{";
      for (size_t k = 0; k < dict->size() && out.size() <= limit; ++k) {
        if (k) out += ", ";
        Value::string((*dict)[k].first).append_repr(out, limit);
        out += ": ";
        (*dict)[k].second.append_repr(out, limit);
      }
      out += is_namespace ? "}>" : "}";
      return;
    default: out += str(limit);
  }
}

json::Value Value::to_json() const {
  switch (kind) {
    case Kind::kUndefined: case Kind::kNone: return json::Value();
    case Kind::kBool: return json::Value(b);
    case Kind::kInt: return json::Value(i);
    case Kind::kFloat: return json::Value(f);
    case Kind::kString: return json::Value(s);
    case Kind::kList: {
      json::Value v = json::Value::array();
      for (const Value& x : *list) v.push(x.to_json());
      return v;
    }
    case Kind::kDict: {
      json::Value v = json::Value::object();
      for (const auto& [k, x] : *dict) v.set(k, x.to_json());
      return v;
    }
  }
  return json::Value();
}

bool equal(const Value& a, const Value& b, uint64_t* work) {
  using K = Value::Kind;
  if (work) *work += 1 + std::min(a.s.size(), b.s.size()) / 16;  // (the renderer's 16 bytes a unit)
  auto numeric = [](const Value& v) { return v.kind == K::kInt || v.kind == K::kFloat || v.kind == K::kBool; };
  if (numeric(a) && numeric(b)) {
    auto as_double = [](const Value& v) { return v.kind == K::kFloat ? v.f : v.kind == K::kInt ? double(v.i) : double(v.b); };
    return as_double(a) == as_double(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::kUndefined: case K::kNone: return true;
    case K::kString: return a.s == b.s;
    case K::kList:
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!equal((*a.list)[k], (*b.list)[k], work)) return false;
      return true;
    case K::kDict:
      if (a.dict->size() != b.dict->size()) return false;
      for (const auto& [k, v] : *a.dict) {
        const Value* o = b.get(k);
        if (work) *work += b.dict->size();  // (the member is looked for one by one)
        if (!o || !equal(v, *o, work)) return false;
      }
      return true;
    default: return false;
  }
}

}  // namespace mb::jinja
