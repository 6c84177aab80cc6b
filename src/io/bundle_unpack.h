// A bundle back to the files it was made from, bit for bit: every chunk decoded (in parallel) and checked
// against its CRC-32, every file against the CRC-32 of the whole file. Paths come from an index that
// io/bundle_format.cpp has checked (relative, no '.' or '..', nothing inside a file); the output is built
// under a temporary folder created for it (so no existing file or symlink is ever written through) and
// renamed into place only when every file is complete and synced.
#pragma once

#include <cstdint>
#include <string>

#include "core/log.h"

namespace mb {

struct UnpackOptions {
  size_t threads = 0;  // 0: every core
  ProgressFn progress;
  bool fsync = true;
};

struct UnpackReport {
  size_t files = 0;
  size_t directories = 0;
  uint64_t bytes = 0;  // of the files written (or checked)
};

// `out_dir` must not exist; nothing is left there when this fails or is cancelled.
UnpackReport unpack_bundle(const std::string& bundle_path, const std::string& out_dir, const UnpackOptions& options = {});

// Decodes and checks everything, writes nothing.
UnpackReport verify_bundle(const std::string& bundle_path, const UnpackOptions& options = {});

}  // namespace mb
