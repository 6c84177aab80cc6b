// Writing a bundle (io/bundle_format.h) from a folder: every file, byte for byte. Tensor data (found by
// io/bundle_layout) is cut into chunks of whole elements, split into byte planes and compressed; other
// bytes are compressed as they are. Chunks are compressed on all cores a batch at a time and written in
// file order; the output appears under its name only when complete and synced.
#pragma once

#include <cstdint>
#include <string>

#include "core/log.h"
#include "io/zstd_chunk.h"

namespace mb {

struct PackOptions {
  std::string kind = "files";  // "hf", "megatron" or "files": recorded in the index
  int level = kDefaultZstdLevel;               // other bytes (headers, JSON, pickles)
  int tensor_level = kDefaultTensorZstdLevel;  // tensor data (byte planes)
  uint64_t chunk_bytes = kDefaultChunkBytes;
  size_t threads = 0;  // 0: every core
  ProgressFn progress;
  bool fsync = true;
  std::string created_by = "mbridge";  // recorded in the index (the command adds its version)
};

struct PackReport {
  size_t files = 0;
  size_t directories = 0;
  size_t tensors = 0;        // tensor-data segments
  uint64_t bytes_in = 0;     // of the files
  uint64_t tensor_bytes = 0;  // of those, tensor data
  uint64_t bytes_out = 0;    // of the bundle
};

// `out_path` must not exist.
PackReport pack_bundle(const std::string& source_dir, const std::string& out_path, const PackOptions& options = {});

}  // namespace mb
