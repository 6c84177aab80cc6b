// One .safetensors file: 8-byte little-endian header length, a JSON header ({"__metadata__": {str: str},
// name: {"dtype", "shape", "data_offsets": [begin, end]}}) padded with spaces to a multiple of 8, then the
// data. The reader maps the file and checks it as strictly as the safetensors library does: offsets
// relative to the data start, every tensor's size equal to its shape, no holes or overlaps, the last
// tensor ending exactly at the end of the file. The writer lays tensors out the way the library does
// (by descending dtype alignment, then name), so files can be byte-identical to safetensors.torch's.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/byte_sink.h"
#include "core/mapped_file.h"
#include "core/tensor.h"

namespace mb {

constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;  // the safetensors library's limit

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  Dims shape;
  uint64_t begin = 0;  // relative to the data start
  uint64_t end = 0;
};

using StringPairs = std::vector<std::pair<std::string, std::string>>;

class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // Parses a file image already in memory (fuzzing, tests); `owner` keeps it alive.
  static std::shared_ptr<SafetensorsFile> parse(ByteView bytes, std::shared_ptr<const void> owner,
                                                const std::string& source);

  const std::vector<SafetensorsEntry>& entries() const { return entries_; }  // in header order
  const SafetensorsEntry* find(std::string_view name) const;
  const StringPairs& metadata() const { return metadata_; }
  uint64_t data_start() const { return data_start_; }
  const std::string& path() const { return source_; }
  // Zero-copy view of a tensor's bytes.
  Tensor tensor(const SafetensorsEntry& entry) const;
  Tensor tensor(std::string_view name) const;
  // Hint the kernel to read a tensor's bytes ahead (no-op for in-memory images).
  void prefetch(const SafetensorsEntry& entry) const;
  void drop_pages() const;  // MappedFile::drop_pages

 private:
  SafetensorsFile() = default;
  void parse_header();

  std::shared_ptr<MappedFile> file_;
  std::shared_ptr<const void> owner_;
  ByteView bytes_;
  std::string source_;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string_view, size_t> by_name_;
  StringPairs metadata_;
};

struct SafetensorsSpec {
  std::string name;
  DType dtype;
  Dims shape;
};

// Writes one .safetensors file: the header is fixed from the specs up front, then each tensor is written
// once, in any order, straight to its place in the file (no whole-file buffer). Nothing appears under
// `path` until finish() succeeds.
class SafetensorsWriter {
 public:
  SafetensorsWriter(std::string path, std::vector<SafetensorsSpec> specs, StringPairs metadata);
  void write(const std::string& name, const Tensor& tensor);
  void finish(bool fsync_data = true);
  // The header bytes (length prefix included) these specs produce; exposed for tests.
  static std::string header_bytes(const std::vector<SafetensorsSpec>& ordered, const StringPairs& metadata);
  // Orders specs as the safetensors library does: by descending dtype alignment, then by name.
  static void sort_like_library(std::vector<SafetensorsSpec>& specs);

 private:
  OutputFile out_;
  std::vector<SafetensorsSpec> specs_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<uint64_t> offsets_;  // absolute file offset of each tensor's data
  std::vector<bool> written_;
  uint64_t total_ = 0;  // file size once every tensor is written
};

}  // namespace mb
