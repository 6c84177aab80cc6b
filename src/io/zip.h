// Store-only zip archives as torch.save writes them: entries never compressed, each entry's data aligned
// to 64 bytes by padding in the local header's extra field (id "FB"), ZIP64 records for entries or
// archives past 4 GiB. The reader works on any byte range (a whole .pt file, or one item of a .distcp
// file) without copying; it validates every offset and size against that range.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.h"
#include "core/mapped_file.h"
#include "io/crc32.h"

namespace mb {

struct ZipEntry {
  std::string name;
  uint64_t header_offset = 0;  // local header, relative to the archive start
  uint64_t data_offset = 0;    // first data byte, relative to the archive start
  uint64_t size = 0;
  uint32_t crc32 = 0;
};

class ZipReader {
 public:
  ZipReader(ByteView archive, std::string source);
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  ByteView data(const ZipEntry& entry) const { return archive_.sub(entry.data_offset, entry.size); }
  void verify_crc(const ZipEntry& entry) const;  // throws a format error on mismatch
  const std::string& source() const { return source_; }

 private:
  ByteView archive_;
  std::string source_;
  std::vector<ZipEntry> entries_;
};

struct ZipWriteOptions {
  uint32_t alignment = 64;   // torch's data alignment
  bool force_zip64 = false;  // ZIP64 records even for small archives (tests)
};

class ZipWriter {
 public:
  ZipWriter(ByteSink& sink, ZipWriteOptions options = {});

  void add(const std::string& name, const void* data, size_t size);
  void add(const std::string& name, const std::string& data) { add(name, data.data(), data.size()); }
  // Streaming form: exactly `size` bytes follow through write(); the CRC is patched in at end_entry().
  void begin_entry(const std::string& name, uint64_t size);
  void write(const void* data, size_t n);
  void end_entry();
  // Central directory and end records; nothing may be added afterwards.
  void finish();

 private:
  struct Written {
    std::string name;
    uint64_t header_offset;
    uint64_t size;
    uint32_t crc32;
    bool zip64;
  };
  uint64_t here() const { return sink_.position() - base_; }

  ByteSink& sink_;
  ZipWriteOptions options_;
  uint64_t base_;
  std::vector<Written> written_;
  bool in_entry_ = false;
  uint64_t entry_remaining_ = 0;
  uint32_t entry_crc_ = 0;
  bool finished_ = false;
};

}  // namespace mb
