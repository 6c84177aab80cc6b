// Normalizers of tokenizer.json ("normalizer"): Sequence, NFC, Prepend, Replace, Strip
// (white space as Rust's char::is_whitespace: the White_Space property).
// They rewrite the text before it is split into words; offsets are not tracked (mbridge needs ids only).
#pragma once

#include <memory>
#include <string>

#include "io/json.h"

namespace mb {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string text) const = 0;
  // nullptr for a JSON null; throws kInvalidArgument naming `source` for unsupported types.
  static std::unique_ptr<Normalizer> from_json(const json::Value& v, const std::string& source);
};

}  // namespace mb
