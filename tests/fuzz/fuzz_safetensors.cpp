// SafetensorsFile::parse on the input, then every tensor's bytes.
#include "core/error.h"
#include "io/safetensors.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = mb::SafetensorsFile::parse(mb::ByteView{data, size}, nullptr, "fuzz.safetensors");
    for (const mb::SafetensorsEntry& e : f->entries()) {
      if (f->find(e.name) == nullptr) __builtin_trap();  // every listed name must be found again
      mbfuzz::consume(f->tensor(e));
    }
  } catch (const mb::Error&) {
  }
  return 0;
}
