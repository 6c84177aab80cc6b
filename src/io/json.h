// JSON documents: parsed with simdjson (which validates UTF-8 and structure) into a small ordered value
// type, and written back compactly or indented. Object members keep their file order, which matters
// for files we rewrite (config.json, index files) and for safetensors headers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mb::json {

enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::kBool), bool_(b) {}
  Value(int v) : type_(Type::kInt), int_(v) {}
  Value(int64_t v) : type_(Type::kInt), int_(v) {}
  Value(uint64_t v) : type_(Type::kInt), int_(static_cast<int64_t>(v)) {}
  Value(double v) : type_(Type::kDouble), double_(v) {}
  Value(std::string s) : type_(Type::kString), string_(std::move(s)) {}
  Value(const char* s) : type_(Type::kString), string_(s) {}
  static Value array() { Value v; v.type_ = Type::kArray; return v; }
  static Value object() { Value v; v.type_ = Type::kObject; return v; }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_number() const { return type_ == Type::kInt || type_ == Type::kDouble; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Typed access; the `what` argument names the value in the error thrown on a type mismatch.
  bool as_bool(const std::string& what = "value") const;
  int64_t as_int(const std::string& what = "value") const;  // integers, or doubles with an integral value
  double as_number(const std::string& what = "value") const;
  const std::string& as_string(const std::string& what = "value") const;

  const std::vector<Value>& items() const { return array_; }
  std::vector<Value>& items() { return array_; }
  const std::vector<std::pair<std::string, Value>>& members() const { return object_; }
  std::vector<std::pair<std::string, Value>>& members() { return object_; }
  size_t size() const { return type_ == Type::kArray ? array_.size() : object_.size(); }

  const Value* find(std::string_view key) const;  // nullptr when absent or not an object
  Value* find(std::string_view key);
  Value& set(const std::string& key, Value v);  // replaces an existing member or appends
  Value& push(Value v);
  bool erase(std::string_view key);

  bool operator==(const Value& o) const;
  bool operator!=(const Value& o) const { return !(*this == o); }

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<Value> array_;
  std::vector<std::pair<std::string, Value>> object_;
};

constexpr int kMaxDepth = 128;

// Parses one JSON document; errors name `source` (a file path) and the reason.
Value parse(std::string_view text, const std::string& source);
Value parse_file(const std::string& path);

// Compact when indent < 0; otherwise pretty-printed with `indent` spaces. Doubles are written in
// their shortest round-trip form.
std::string dump(const Value& v, int indent = -1);
std::string quote(std::string_view s);  // a JSON string literal

}  // namespace mb::json
