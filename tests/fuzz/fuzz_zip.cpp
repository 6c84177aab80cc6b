// ZipReader on the input; every entry's bytes read and its CRC checked; a data.pkl entry (torch.save
// layout) unpickled the way TorchSaveFile does.
#include "core/error.h"
#include "io/pickle_reader.h"
#include "io/torch_save.h"
#include "io/zip.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mb::ZipReader zip(mb::ByteView{data, size}, "fuzz.zip");
    const mb::ZipEntry* pkl = nullptr;
    for (const mb::ZipEntry& e : zip.entries()) {
      mb::ByteView b = zip.data(e);
      mbfuzz::consume(b.data, b.size);
      try {
        zip.verify_crc(e);
      } catch (const mb::Error&) {
      }
      const std::string& n = e.name;
      if (n == "data.pkl" || (n.size() > 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0)) pkl = &e;
      if (zip.find(n) == nullptr) __builtin_trap();
    }
    if (pkl) {
      const std::string source = "fuzz.zip (" + pkl->name + ")";
      mb::pickle::ReadOptions ro;
      ro.persistent_load = mb::torch_persistent_load(source);
      mb::pickle::Document doc = mb::pickle::read(zip.data(*pkl), source, ro);
      mb::collect_tensors(doc.root, "", source);
    }
  } catch (const mb::Error&) {
  }
  return 0;
}
