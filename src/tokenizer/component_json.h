// Reading the parts of tokenizer.json (normalizer, pre_tokenizer, model, post_processor, decoder, added
// tokens): optional members with their defaults, the "type" of a part, and Sequence parts' lists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/json.h"

namespace mb::tokenizer_json {

// A boolean member, or `otherwise` when absent or null.
inline bool flag(const json::Value& v, const char* key, bool otherwise) {
  const json::Value* f = v.find(key);
  return f && f->is_bool() ? f->as_bool() : otherwise;
}

// A string member, or "" when absent or null.
inline std::string text(const json::Value& v, const char* key) {
  const json::Value* f = v.find(key);
  return f && f->is_string() ? f->as_string() : std::string();
}

// The "type" of a part; fails naming the file and the part when it has none.
inline const std::string& type_of(const json::Value& v, const std::string& source, const char* part) {
  const json::Value* type = v.find("type");
  if (!type || !type->is_string()) fail_format(source, part, " without a \"type\"");
  return type->as_string();
}

// The members of a Sequence part's list `key`, each made by from_json (null members left out).
template <class Part>
std::vector<std::unique_ptr<Part>> sequence(const json::Value& v, const char* key, const std::string& source) {
  const json::Value* list = v.find(key);
  if (!list || !list->is_array()) fail_format(source, "Sequence without \"", key, "\"");
  std::vector<std::unique_ptr<Part>> parts;
  for (const json::Value& item : list->items())
    if (auto p = Part::from_json(item, source)) parts.push_back(std::move(p));
  return parts;
}

}  // namespace mb::tokenizer_json
