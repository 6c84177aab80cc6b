// The mbridge bundle (.mbz): every file of a model folder or Megatron checkpoint in one file, losslessly
// compressed, readable in place. Layout (docs/formats.md, "Bundles"):
//   preamble   16 bytes: magic "\x89MBZ\r\n\x1a\n", u32 version, u32 0
//   frames     independent zstd frames back to back, one per chunk (io/zstd_chunk.h)
//   index      JSON: every directory and file, each file's segments (tensor data split into byte planes,
//              or other bytes), each segment's chunks [frame offset, frame length, bytes, CRC-32]
//   end record 32 bytes: u64 index offset, u64 index length, u32 CRC-32 of the index, u32 version,
//              magic "\x89MBZEND\n"
// This file holds the index as data, its parser (every offset, size and name checked: bundles are
// untrusted input) and its writer; io/bundle_pack writes bundles, io/bundle_reader reads them.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"

namespace mb {

constexpr uint32_t kBundleVersion = 1;
constexpr size_t kBundlePreambleBytes = 16;
constexpr size_t kBundleEndBytes = 32;
constexpr uint64_t kBundleMaxIndexBytes = 1ull << 30;
constexpr size_t kBundleMaxFiles = 1'000'000;

struct BundleChunk {
  uint64_t frame_offset = 0;  // in the bundle
  uint64_t frame_length = 0;
  uint64_t raw_offset = 0;    // in the member file
  uint64_t raw_length = 0;
  uint32_t crc32 = 0;         // of the raw bytes
  uint32_t segment = 0;       // index into BundleFile::segments
};

struct BundleSegment {
  uint64_t offset = 0;  // in the member file
  uint64_t length = 0;
  size_t plane_width = 1;
  std::string tensor;  // the tensor whose data this is; empty for other bytes (headers, JSON, pickles)
  std::string dtype;   // the tensor's dtype, as safetensors names it ("" when unknown)
  uint32_t first_chunk = 0;
  uint32_t chunk_count = 0;
  bool is_tensor() const { return !tensor.empty(); }
};

struct BundleFile {
  std::string path;  // relative, '/'-separated
  uint64_t size = 0;
  uint32_t crc32 = 0;  // of the whole file
  std::vector<BundleSegment> segments;  // in file order, tiling [0, size)
  std::vector<BundleChunk> chunks;      // in file order, tiling [0, size)
};

struct BundleIndex {
  std::string kind;        // "hf", "megatron" or "files": what was packed
  std::string created_by;  // "mbridge 0.1.0"
  uint64_t chunk_bytes = 0;
  int level = 0;         // zstd level of other bytes (informational: frames describe themselves)
  int tensor_level = 0;  // and of tensor data
  std::vector<std::string> directories;  // every directory, parents first
  std::vector<BundleFile> files;         // in path order
  uint64_t index_offset = 0;             // where the index starts in the bundle (= end of the frames)
  uint64_t bundle_size = 0;
};

// The 16 leading bytes, and the 32 closing ones, of a bundle.
std::string bundle_preamble();
std::string bundle_end_record(uint64_t index_offset, uint64_t index_length, uint32_t index_crc32);
// True when `head` (at least 8 bytes) starts like a bundle.
bool has_bundle_magic(const uint8_t* head, size_t n);

// The index as JSON (compact, files in the order given).
std::string bundle_index_json(const BundleIndex& index);

// Checks a whole bundle image (preamble, end record, index checksum and content, that the frames tile
// the space between preamble and index exactly) and returns its index. Errors name `source`.
BundleIndex parse_bundle(ByteView bytes, const std::string& source);

// Path rules for names inside a bundle: relative, '/'-separated, no '.', '..' or empty components, no
// backslash or control characters; throws a format error naming `source` otherwise.
void check_bundle_path(const std::string& path, const std::string& source);

}  // namespace mb
