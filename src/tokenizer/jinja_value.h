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
  // Lists and dicts inside one another, this one included (0 for other values), as of when they were put
  // together; and whether a namespace is somewhere inside. Bounded so that the functions that walk a value
  // (str, repr, equal, to_json, the destructor) recurse only so deep, and a namespace never holds one.
  int depth = 0;
  bool holds_namespace = false;
  static constexpr int kMaxDepth = 200;

  static Value none() { Value v; v.kind = Kind::kNone; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::kBool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::kInt; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::kFloat; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::kString; v.s = std::move(x); return v; }
  static Value new_list() { Value v; v.kind = Kind::kList; v.list = std::make_shared<List>(); v.depth = 1; return v; }
  static Value new_dict() { Value v; v.kind = Kind::kDict; v.dict = std::make_shared<Dict>(); v.depth = 1; return v; }
  static Value from_json(const json::Value& j);

  bool defined() const { return kind != Kind::kUndefined; }
  bool truthy() const;
  const Value* get(const std::string& key) const;  // dict member, or nullptr
  // These two add to a list or dict and keep depth and holds_namespace; kInvalidArgument past kMaxDepth, or
  // when a namespace would hold a namespace (the one way a value could hold itself).
  void push(Value v);                              // list element, appended
  void set(const std::string& key, Value v);       // dict member, replaced or appended
  void adopt(const Value& child);                  // what push and set check and keep, for `child`
  // Python's str() and repr() (the latter inside str() of lists and dicts). Past `limit` bytes the text stops
  // there and ends in "...", so a huge value costs no more than the limit.
  std::string str(size_t limit = std::string::npos) const;
  std::string repr(size_t limit = std::string::npos) const;
  json::Value to_json() const;

 private:
  void append_repr(std::string& out, size_t limit) const;
};

// Python's ==; `work`, when given, is increased by the number of values compared.
bool equal(const Value& a, const Value& b, uint64_t* work = nullptr);

}  // namespace mb::jinja
