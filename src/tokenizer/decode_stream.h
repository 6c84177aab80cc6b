// Incremental decoding for streaming generated text: feed ids one at a time, get the text they add.
// Text is held back while the decode of the pending ids ends in an incomplete character (U+FFFD), so a
// piece never splits a UTF-8 character; decoders that treat the first token specially (Strip, Metaspace)
// see the same context they would in a full decode. The pieces joined, plus finish(), equal decode(all ids).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mb {

class Tokenizer;

class DecodeStream {
 public:
  DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens);
  // The text this id adds (possibly empty while a character is incomplete).
  std::string step(int32_t id);
  // Whatever is still held back (an incomplete character at the very end shows as U+FFFD).
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_;
  std::vector<int32_t> ids_;  // the context ids, then the ids not yet emitted
  size_t context_ = 0;        // how many of ids_ are context (already emitted)
  std::string prefix_;        // decode of the context ids
};

}  // namespace mb
