// Seeds for fuzz_bundle, made at run time from fixture files (scripts/fuzz-smoke.sh): for each FILE, a bundle
// of a folder holding it, and a tensor frame of each tensor of every .safetensors FILE; all under OUT_DIR.
// A plain program (not a fuzzer): usage: fuzz_bundle_seeds OUT_DIR FILE...
#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"
#include "core/paths.h"
#include "io/bundle_pack.h"
#include "io/safetensors.h"
#include "io/tensor_frame.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR FILE...\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  try {
    mb::make_directories(out);
    for (int i = 2; i < argc; ++i) {
      const std::string file = argv[i];
      const std::string dir = mb::join_path(out, "src" + std::to_string(i));
      mb::make_directories(dir);
      std::ifstream in(file, std::ios::binary);
      std::ofstream(mb::join_path(dir, mb::file_name(file)), std::ios::binary) << in.rdbuf();
      mb::PackOptions o;
      o.chunk_bytes = 256;  // several chunks even in small seeds
      o.fsync = false;
      mb::pack_bundle(dir, mb::join_path(out, "seed" + std::to_string(i) + ".mbz"), o);
      mb::remove_tree(dir);
      if (file.size() > 12 && file.compare(file.size() - 12, 12, ".safetensors") == 0) {
        auto st = mb::SafetensorsFile::open(file);
        int n = 0;
        for (const mb::SafetensorsEntry& e : st->entries()) {
          mb::TensorFrameOptions fo;
          fo.chunk_bytes = 128;
          auto frame = mb::encode_tensor_frame(e.name, st->tensor(e), fo);
          std::ofstream(mb::join_path(out, "frame" + std::to_string(i) + "_" + std::to_string(n++) + ".mbtf"),
                        std::ios::binary)
              .write(reinterpret_cast<const char*>(frame.data()), static_cast<std::streamsize>(frame.size()));
        }
      }
    }
  } catch (const mb::Error& e) {
    std::fprintf(stderr, "fuzz_bundle_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
