// A tokenizer.json from untrusted bytes: parsed (normalizers, pre-tokenizers with their regexes, BPE
// vocabulary and merges, added tokens, decoders), then made to encode and decode; any Error is fine,
// a crash, hang or leak is not.
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto tok = mb::Tokenizer::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/tokenizer.json");
    for (const char* text : {"Hello, world!  12345 don't\n\n", "h\xC3\xA9llo \xF0\x9F\xA4\x97 <s></s>", ""}) {
      std::vector<int32_t> ids = tok->encode(text);
      tok->decode(ids, false);
      tok->decode(ids, true);
    }
    tok->decode({0, 1, 2, -1, 1 << 30}, false);
  } catch (const mb::Error&) {
  }
  return 0;
}
