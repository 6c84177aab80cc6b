#include "io/zip.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <unordered_set>

#include "core/error.h"
#include "core/lazy_image.h"
#include "core/paths.h"
#include "core/threads.h"

namespace mb {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kPadExtraId = 0x4246;  // "FB": torch's alignment padding

uint64_t rd(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

// ---- reader ---------------------------------------------------------------------------------------------

ZipReader::ZipReader(ByteView archive, std::string source) : archive_(archive), source_(std::move(source)) {
  const uint8_t* a = archive.data;
  const uint64_t n = archive.size;
  if (n < 22) fail_format(source_, "not a zip archive (", n, " bytes is too short)");

  // End of central directory: the last 22 bytes, unless a comment follows it.
  uint64_t eocd = UINT64_MAX;
  uint64_t lowest = n >= 22 + 65535 ? n - 22 - 65535 : 0;
  for (uint64_t p = n - 22 + 1; p-- > lowest;) {
    if (rd(a + p, 4) == kEndSig && p + 22 + rd(a + p + 20, 2) == n) {
      eocd = p;
      break;
    }
  }
  if (eocd == UINT64_MAX) fail_format(source_, "not a zip archive (no end-of-central-directory record)");
  const uint8_t* e = a + eocd;
  if (rd(e + 4, 2) != 0 || rd(e + 6, 2) != 0) fail_format(source_, "multi-disk zip archives are not supported");
  uint64_t count = rd(e + 10, 2);
  uint64_t cd_size = rd(e + 12, 4);
  uint64_t cd_offset = rd(e + 16, 4);
  uint64_t cd_end_limit = eocd;

  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (eocd < 20 || rd(a + eocd - 20, 4) != kEnd64LocatorSig)
      fail_format(source_, "zip end record asks for ZIP64 but has no ZIP64 locator");
    uint64_t z64 = rd(a + eocd - 20 + 8, 8);
    if (z64 > eocd - 20 || eocd - 20 - z64 < 56 || rd(a + z64, 4) != kEnd64Sig)
      fail_format(source_, "ZIP64 end record offset ", z64, " is not valid");
    count = rd(a + z64 + 32, 8);
    cd_size = rd(a + z64 + 40, 8);
    cd_offset = rd(a + z64 + 48, 8);
    cd_end_limit = z64;
  }
  if (cd_offset > cd_end_limit || cd_size > cd_end_limit - cd_offset)
    fail_format(source_, "central directory (offset ", cd_offset, ", ", cd_size, " bytes) lies outside the archive");
  if (count > cd_size / 46) fail_format(source_, "zip claims ", count, " entries, more than its central directory holds");

  entries_.reserve(static_cast<size_t>(count));
  std::unordered_set<std::string> names;
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    if (cd_end - p < 46 || rd(a + p, 4) != kCentralSig)
      fail_format(source_, "central directory entry ", i, " is malformed");
    const uint8_t* c = a + p;
    uint16_t flags = static_cast<uint16_t>(rd(c + 8, 2));
    uint16_t method = static_cast<uint16_t>(rd(c + 10, 2));
    ZipEntry entry;
    entry.crc32 = static_cast<uint32_t>(rd(c + 16, 4));
    uint64_t csize = rd(c + 20, 4);
    uint64_t usize = rd(c + 24, 4);
    uint64_t name_len = rd(c + 28, 2), extra_len = rd(c + 30, 2), comment_len = rd(c + 32, 2);
    uint64_t disk = rd(c + 34, 2);
    entry.header_offset = rd(c + 42, 4);
    if (cd_end - p - 46 < name_len + extra_len + comment_len)
      fail_format(source_, "central directory entry ", i, " runs past the directory");
    entry.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
    // ZIP64 extra: the 64-bit values for whichever fields hold 0xFFFFFFFF, in this order.
    const uint8_t* x = c + 46 + name_len;
    for (uint64_t k = 0; k + 4 <= extra_len;) {
      uint64_t id = rd(x + k, 2), len = rd(x + k + 2, 2);
      if (k + 4 + len > extra_len) fail_format(source_, "entry '", entry.name, "': extra field runs past its end");
      if (id == kZip64ExtraId) {
        const uint8_t* z = x + k + 4;
        uint64_t used = 0;
        auto next = [&](uint64_t& field) {
          if (used + 8 > len) fail_format(source_, "entry '", entry.name, "': ZIP64 extra field too short");
          field = rd(z + used, 8);
          used += 8;
        };
        if (usize == 0xFFFFFFFF) next(usize);
        if (csize == 0xFFFFFFFF) next(csize);
        if (entry.header_offset == 0xFFFFFFFF) next(entry.header_offset);
      }
      k += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;

    check_relative_name(entry.name, source_ + " (zip entry)", true);
    if (!names.insert(entry.name).second) fail_format(source_, "zip entry '", entry.name, "' appears twice");
    if (disk != 0) fail_format(source_, "entry '", entry.name, "' lives on another disk");
    if (flags & 0x1) fail_format(source_, "entry '", entry.name, "' is encrypted");
    if (method != 0)
      fail_format(source_, "entry '", entry.name, "' is compressed (method ", method,
                  "); torch archives store entries uncompressed");
    if (csize != usize) fail_format(source_, "entry '", entry.name, "': stored sizes differ (", csize, " vs ", usize, ")");
    entry.size = usize;

    uint64_t h = entry.header_offset;
    if (h > cd_offset || cd_offset - h < 30 || rd(a + h, 4) != kLocalSig)
      fail_format(source_, "entry '", entry.name, "': no local header at offset ", h);
    uint64_t lname = rd(a + h + 26, 2), lextra = rd(a + h + 28, 2);
    if (cd_offset - h - 30 < lname + lextra)
      fail_format(source_, "entry '", entry.name, "': local header runs into the central directory");
    if (lname != name_len || std::memcmp(a + h + 30, entry.name.data(), name_len) != 0)
      fail_format(source_, "entry '", entry.name, "': local header names a different file");
    entry.data_offset = h + 30 + lname + lextra;
    if (entry.size > cd_offset - entry.data_offset)
      fail_format(source_, "entry '", entry.name, "': ", entry.size, " bytes at offset ", entry.data_offset,
                  " run past the data area");
    entries_.push_back(std::move(entry));
  }

  // Entries must not overlap (a classic way to make one byte count many times).
  std::vector<const ZipEntry*> sorted;
  for (const auto& en : entries_) sorted.push_back(&en);
  std::sort(sorted.begin(), sorted.end(),
            [](const ZipEntry* x, const ZipEntry* y) { return x->header_offset < y->header_offset; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1]->data_offset + sorted[i - 1]->size > sorted[i]->header_offset)
      fail_format(source_, "zip entries '", sorted[i - 1]->name, "' and '", sorted[i]->name, "' overlap");
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void ZipReader::verify_crc(const ZipEntry& entry) const {
  ByteView d = data(entry);
  auto pinned = pin_bytes(d.data, d.size);  // bytes a bundle produces on demand
  uint32_t crc = crc32_of(d.data, d.size);
  if (crc != entry.crc32)
    fail_format(source_, "entry '", entry.name, "' is corrupt (CRC-32 ", crc, ", expected ", entry.crc32, ")");
}

// ---- writer -----------------------------------------------------------------------------------------------

namespace {
void put(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}
}  // namespace

ZipWriter::ZipWriter(ByteSink& sink, ZipWriteOptions options)
    : sink_(sink), options_(options), base_(sink.position()) {
  if (options_.alignment == 0 || (options_.alignment & (options_.alignment - 1)))
    fail(Status::kInvalidArgument, "zip alignment must be a power of two");
}

void ZipWriter::add(const std::string& name, const void* data, size_t size) {
  begin_entry(name, size);
  write(data, size);
  end_entry();
}

void ZipWriter::begin_entry(const std::string& name, uint64_t size) {
  if (finished_ || in_entry_) fail(Status::kInternal, "zip writer: entry started out of order");
  if (name.size() > 0xFFFF) fail(Status::kInvalidArgument, "zip entry name too long");
  const bool zip64 = options_.force_zip64 || size >= 0xFFFFFFFFull || here() >= 0xFFFFFFFFull;
  uint64_t offset = here();
  std::string h;
  put(h, kLocalSig, 4);
  put(h, zip64 ? 45 : 20, 2);  // version needed
  put(h, 0x0800, 2);           // UTF-8 names
  put(h, 0, 2);                // stored
  put(h, 0, 4);                // time, date
  put(h, 0, 4);                // CRC-32, patched in at end_entry()
  put(h, zip64 ? 0xFFFFFFFFull : size, 4);
  put(h, zip64 ? 0xFFFFFFFFull : size, 4);
  put(h, name.size(), 2);
  std::string extra;
  if (zip64) {
    put(extra, kZip64ExtraId, 2);
    put(extra, 16, 2);
    put(extra, size, 8);
    put(extra, size, 8);
  }
  uint64_t end = offset + 30 + name.size() + extra.size();
  if (end % options_.alignment != 0) {
    uint64_t pad = (options_.alignment - (end + 4) % options_.alignment) % options_.alignment;
    put(extra, kPadExtraId, 2);
    put(extra, pad, 2);
    extra.append(static_cast<size_t>(pad), 'Z');
  }
  put(h, extra.size(), 2);
  h += name;
  h += extra;
  sink_.write(h.data(), h.size());
  written_.push_back({name, offset, size, 0, zip64});
  in_entry_ = true;
  entry_remaining_ = size;
  entry_crc_ = 0;
}

void ZipWriter::write(const void* data, size_t n) {
  if (!in_entry_ || n > entry_remaining_) fail(Status::kInternal, "zip writer: more data than the entry announced");
  if (n < kParallelBytes) {
    entry_crc_ = crc32_of(data, n, entry_crc_);
    sink_.write(data, n);
  } else {
    // The checksum and the write read the same bytes: run side by side, the shorter hides in the longer
    // (the write is bound by the kernel's copy into the page cache, the checksum by page faults on the source).
    // The future's destructor waits for the checksum should the write throw.
    std::future<uint32_t> crc = std::async(std::launch::async, [&] { return crc32_of(data, n, entry_crc_); });
    sink_.write(data, n);
    entry_crc_ = crc.get();
  }
  entry_remaining_ -= n;
}

void ZipWriter::end_entry() {
  if (!in_entry_ || entry_remaining_ != 0) fail(Status::kInternal, "zip writer: entry ended before all its data");
  Written& w = written_.back();
  w.crc32 = entry_crc_;
  std::string crc;
  put(crc, entry_crc_, 4);
  sink_.patch(base_ + w.header_offset + 14, crc.data(), 4);
  in_entry_ = false;
}

void ZipWriter::finish() {
  if (finished_ || in_entry_) fail(Status::kInternal, "zip writer: finish() out of order");
  const uint64_t cd_offset = here();
  std::string cd;
  for (const Written& w : written_) {
    bool big_size = w.size >= 0xFFFFFFFFull || options_.force_zip64;
    bool big_offset = w.header_offset >= 0xFFFFFFFFull || options_.force_zip64;
    std::string extra;
    if (big_size || big_offset) {
      std::string z;
      if (big_size) { put(z, w.size, 8); put(z, w.size, 8); }
      if (big_offset) put(z, w.header_offset, 8);
      put(extra, kZip64ExtraId, 2);
      put(extra, z.size(), 2);
      extra += z;
    }
    put(cd, kCentralSig, 4);
    put(cd, (3 << 8) | 45, 2);                 // made by: Unix, 4.5
    put(cd, extra.empty() ? 20 : 45, 2);      // version needed
    put(cd, 0x0800, 2);
    put(cd, 0, 2);
    put(cd, 0, 4);
    put(cd, w.crc32, 4);
    put(cd, big_size ? 0xFFFFFFFFull : w.size, 4);
    put(cd, big_size ? 0xFFFFFFFFull : w.size, 4);
    put(cd, w.name.size(), 2);
    put(cd, extra.size(), 2);
    put(cd, 0, 2);  // comment
    put(cd, 0, 2);  // disk
    put(cd, 0, 2);  // internal attributes
    put(cd, 0, 4);  // external attributes
    put(cd, big_offset ? 0xFFFFFFFFull : w.header_offset, 4);
    cd += w.name;
    cd += extra;
  }
  sink_.write(cd.data(), cd.size());
  const uint64_t cd_size = cd.size();
  const uint64_t count = written_.size();
  const bool zip64 = options_.force_zip64 || count >= 0xFFFF || cd_offset >= 0xFFFFFFFFull ||
                     cd_size >= 0xFFFFFFFFull;
  std::string tail;
  if (zip64) {
    const uint64_t z64_offset = here();
    put(tail, kEnd64Sig, 4);
    put(tail, 44, 8);  // size of the rest of this record
    put(tail, (3 << 8) | 45, 2);
    put(tail, 45, 2);
    put(tail, 0, 4);
    put(tail, 0, 4);
    put(tail, count, 8);
    put(tail, count, 8);
    put(tail, cd_size, 8);
    put(tail, cd_offset, 8);
    put(tail, kEnd64LocatorSig, 4);
    put(tail, 0, 4);
    put(tail, z64_offset, 8);
    put(tail, 1, 4);
  }
  put(tail, kEndSig, 4);
  put(tail, 0, 2);
  put(tail, 0, 2);
  put(tail, zip64 ? 0xFFFF : count, 2);
  put(tail, zip64 ? 0xFFFF : count, 2);
  put(tail, zip64 ? 0xFFFFFFFFull : cd_size, 4);
  put(tail, zip64 ? 0xFFFFFFFFull : cd_offset, 4);
  put(tail, 0, 2);
  sink_.write(tail.data(), tail.size());
  finished_ = true;
}

}  // namespace mb
