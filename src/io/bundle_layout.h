// What a bundle is made of: every folder and file under a root, and, inside each file, where tensor data
// lies (so it can be split into byte planes and decoded on demand later) as opposed to other bytes.
// Tensor data is found by reading the files as what they are: safetensors headers, torch.save archives
// (the data/<key> entries of the storages their tensors use), and torch_dist .distcp files (each chunk's
// archive, located through the iteration folder's .metadata). A file that cannot be read that way is
// packed as plain bytes: the bundle stays lossless, it only compresses that file less well.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mb {

struct TensorRegion {
  uint64_t offset = 0;  // in the file
  uint64_t length = 0;
  size_t element_size = 1;
  std::string name;   // the tensor (or a tensor using the storage)
  std::string dtype;  // safetensors spelling
};

struct PackFile {
  std::string path;    // relative to the root, '/'-separated
  std::string source;  // where to read it
  uint64_t size = 0;
  std::vector<TensorRegion> tensors;  // sorted, disjoint
};

struct PackTree {
  std::vector<std::string> directories;  // every folder below the root, parents first
  std::vector<PackFile> files;           // sorted by path
};

// Symlinks to files are followed (their content is stored as a regular file: a Hugging Face cache
// snapshot is all symlinks); symlinked folders and special files are refused.
PackTree scan_pack_tree(const std::string& root);

}  // namespace mb
