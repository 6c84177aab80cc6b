#include "io/json.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "core/error.h"
#include "core/paths.h"

namespace mb::json {

// ---- access ----------------------------------------------------------------------------------------

namespace {
const char* type_name(Type t) {
  switch (t) {
    case Type::kNull: return "null";
    case Type::kBool: return "a boolean";
    case Type::kInt: return "an integer";
    case Type::kDouble: return "a number";
    case Type::kString: return "a string";
    case Type::kArray: return "an array";
    case Type::kObject: return "an object";
  }
  return "?";
}
}  // namespace

bool Value::as_bool(const std::string& what) const {
  if (type_ != Type::kBool) fail(Status::kFormat, what, " should be a boolean, not ", type_name(type_));
  return bool_;
}

int64_t Value::as_int(const std::string& what) const {
  if (type_ == Type::kInt) return int_;
  if (type_ == Type::kDouble && std::nearbyint(double_) == double_ && std::fabs(double_) < 9.2e18)
    return static_cast<int64_t>(double_);
  fail(Status::kFormat, what, " should be an integer, not ", type_name(type_));
}

double Value::as_number(const std::string& what) const {
  if (type_ == Type::kInt) return static_cast<double>(int_);
  if (type_ == Type::kDouble) return double_;
  fail(Status::kFormat, what, " should be a number, not ", type_name(type_));
}

const std::string& Value::as_string(const std::string& what) const {
  if (type_ != Type::kString) fail(Status::kFormat, what, " should be a string, not ", type_name(type_));
  return string_;
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& m : object_)
    if (m.first == key) return &m.second;
  return nullptr;
}

Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}

Value& Value::set(const std::string& key, Value v) {
  if (type_ == Type::kNull) type_ = Type::kObject;
  if (type_ != Type::kObject) fail(Status::kInternal, "json set() on ", type_name(type_));
  if (Value* existing = find(key)) return *existing = std::move(v);
  object_.emplace_back(key, std::move(v));
  return object_.back().second;
}

Value& Value::push(Value v) {
  if (type_ == Type::kNull) type_ = Type::kArray;
  if (type_ != Type::kArray) fail(Status::kInternal, "json push() on ", type_name(type_));
  array_.push_back(std::move(v));
  return array_.back();
}

bool Value::erase(std::string_view key) {
  for (auto it = object_.begin(); it != object_.end(); ++it)
    if (it->first == key) {
      object_.erase(it);
      return true;
    }
  return false;
}

bool Value::operator==(const Value& o) const {
  if (is_number() && o.is_number()) {
    if (type_ == Type::kInt && o.type_ == Type::kInt) return int_ == o.int_;
    return as_number() == o.as_number();
  }
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::kNull: return true;
    case Type::kBool: return bool_ == o.bool_;
    case Type::kString: return string_ == o.string_;
    case Type::kArray: return array_ == o.array_;
    case Type::kObject: return object_ == o.object_;
    default: return false;
  }
}

// ---- parse -------------------------------------------------------------------------------------------

namespace {

Value convert(simdjson::dom::element e, int depth, const std::string& source) {
  if (depth > kMaxDepth) fail_format(source, "JSON nested deeper than ", kMaxDepth, " levels");
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE: return Value();
    case simdjson::dom::element_type::BOOL: return Value(bool(e.get_bool()));
    case simdjson::dom::element_type::INT64: return Value(int64_t(e.get_int64()));
    case simdjson::dom::element_type::UINT64: {
      uint64_t u = e.get_uint64();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case simdjson::dom::element_type::DOUBLE: return Value(double(e.get_double()));
    case simdjson::dom::element_type::STRING: return Value(std::string(std::string_view(e.get_string())));
    case simdjson::dom::element_type::ARRAY: {
      Value v = Value::array();
      for (simdjson::dom::element x : e.get_array()) v.items().push_back(convert(x, depth + 1, source));
      return v;
    }
    case simdjson::dom::element_type::OBJECT: {
      Value v = Value::object();
      for (simdjson::dom::key_value_pair kv : e.get_object())
        v.members().emplace_back(std::string(kv.key), convert(kv.value, depth + 1, source));
      return v;
    }
  }
  fail_format(source, "unknown JSON element");
}

// Python's json writes integers of any size (tokenizer_config.json's model_max_length is often 1e30 written
// out in full), which simdjson refuses. Integers of more than 19 digits outside strings get a ".0" so they
// read as doubles, as Python would convert them; everything else is left as it is.
std::string widen_big_integers(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) out.push_back(text[++i]);
      else if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') in_string = true;
    if (c >= '0' && c <= '9' && (i == 0 || !(text[i - 1] == '.' || text[i - 1] == 'e' || text[i - 1] == 'E' ||
                                            (text[i - 1] >= '0' && text[i - 1] <= '9')))) {
      size_t j = i;
      while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
      bool integer = j == text.size() || (text[j] != '.' && text[j] != 'e' && text[j] != 'E');
      out.append(text.substr(i, j - i));
      if (integer && j - i > 19) out += ".0";
      i = j;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace

Value parse(std::string_view text, const std::string& source) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  auto err = parser.parse(padded).get(root);
  if (err == simdjson::NUMBER_ERROR) {
    simdjson::padded_string widened(widen_big_integers(text));
    if (!parser.parse(widened).get(root)) return convert(root, 0, source);
  }
  if (err) fail_format(source, "invalid JSON: ", simdjson::error_message(err));
  return convert(root, 0, source);
}

Value parse_file(const std::string& path) { return parse(read_text_file(path), path); }

// ---- dump --------------------------------------------------------------------------------------------

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

void dump_to(const Value& v, int indent, int level, std::string& out) {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.type()) {
    case Type::kNull: out += "null"; break;
    case Type::kBool: out += v.as_bool() ? "true" : "false"; break;
    case Type::kInt: out += std::to_string(v.as_int()); break;
    case Type::kDouble: {
      double d = v.as_number();
      if (!std::isfinite(d)) fail(Status::kInvalidArgument, "JSON cannot hold ", d);
      char buf[64];
      auto res = std::to_chars(buf, buf + sizeof(buf), d);
      std::string s(buf, res.ptr);
      if (s.find_first_of(".en") == std::string::npos) s += ".0";  // keep it a float for Python readers
      out += s;
      break;
    }
    case Type::kString: out += quote(v.as_string()); break;
    case Type::kArray: {
      out += '[';
      bool first = true;
      for (const Value& x : v.items()) {
        if (!first) out += ",";
        first = false;
        newline(level + 1);
        dump_to(x, indent, level + 1, out);
      }
      if (!v.items().empty()) newline(level);
      out += ']';
      break;
    }
    case Type::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.members()) {
        if (!first) out += ",";
        first = false;
        newline(level + 1);
        out += quote(k);
        out += indent < 0 ? ":" : ": ";
        dump_to(x, indent, level + 1, out);
      }
      if (!v.members().empty()) newline(level);
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string dump(const Value& v, int indent) {
  std::string out;
  dump_to(v, indent, 0, out);
  return out;
}

}  // namespace mb::json
