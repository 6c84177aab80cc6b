// The values a chat template computes with: Jinja's (Python's) undefined, none, booleans, integers,
// floats, strings, lists, dicts and namespaces, with Python's truthiness, equality and str().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"

namespace mb::jinja {

struct Value {
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict };
  using List = std::vector<Value>;
  using Dict = std::vector<std::pair<std::string, Value>>;  // insertion order, as Python dicts

  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;  // shared: Jinja values are references (a namespace is mutated in place)
  std::shared_ptr<Dict> dict;
  bool is_namespace = false;

  static Value none() { Value v; v.kind = Kind::kNone; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::kInt; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::kFloat; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::kString; v.s = std::move(x); return v; }
  static Value new_list() { Value v; v.kind = Kind::kList; v.list = std::make_shared<List>(); return v; }
  static Value new_dict() { Value v; v.kind = Kind::kDict; v.dict = std::make_shared<Dict>(); return v; }
  static Value from_json(const json::Value& j);

  bool defined() const { return kind != Kind::kUndefined; }
  bool truthy() const;
  const Value* get(const std::string& key) const;  // dict member, or nullptr
  void set(const std::string& key, Value v);       // dict member, replaced or appended
  std::string str() const;                         // Python's str()
  std::string repr() const;                        // Python's repr() (inside str() of lists and dicts)
  json::Value to_json() const;
};

bool equal(const Value& a, const Value& b);

}  // namespace mb::jinja
