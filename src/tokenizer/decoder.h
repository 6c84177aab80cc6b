// Decoders of tokenizer.json ("decoder"): Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip,
// Metaspace. Each maps the list of token strings to a new list; the decoded text is their concatenation.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/json.h"

namespace mb {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
  static std::unique_ptr<Decoder> from_json(const json::Value& v, const std::string& source);
};

// Bytes as text the way Rust's String::from_utf8_lossy does it: each maximal invalid subpart becomes one
// U+FFFD (a truncated but otherwise valid sequence is one subpart).
std::string utf8_lossy(std::string_view bytes);

}  // namespace mb
