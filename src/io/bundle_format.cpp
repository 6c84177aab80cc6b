#include "io/bundle_format.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/error.h"
#include "core/paths.h"
#include "io/crc32.h"
#include "io/json.h"
#include "io/zstd_chunk.h"

namespace mb {

namespace {

constexpr char kMagic[8] = {'\x89', 'M', 'B', 'Z', '\r', '\n', '\x1a', '\n'};
constexpr char kEndMagic[8] = {'\x89', 'M', 'B', 'Z', 'E', 'N', 'D', '\n'};
constexpr size_t kMaxNameBytes = 65536;

void put_le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// ---- reading the index: each accessor throws a format error naming the bundle and the value ----------

class IndexReader {
 public:
  IndexReader(const std::string& source) : source_(source) {}

  const json::Value& member(const json::Value& object, const char* key, const std::string& where) const {
    const json::Value* v = object.find(key);
    if (!v) error(where, " has no \"", key, "\"");
    return *v;
  }
  uint64_t integer(const json::Value& v, const std::string& what, uint64_t max = UINT64_MAX / 2) const {
    if (!v.is_int() || v.as_int() < 0 || static_cast<uint64_t>(v.as_int()) > max)
      error(what, " is not an integer in [0, ", max, "]");
    return static_cast<uint64_t>(v.as_int());
  }
  const std::string& string(const json::Value& v, const std::string& what) const {
    if (!v.is_string()) error(what, " is not a string");
    if (v.as_string().size() > kMaxNameBytes) error(what, " is longer than ", kMaxNameBytes, " bytes");
    return v.as_string();
  }
  const json::Value& array(const json::Value& v, const std::string& what) const {
    if (!v.is_array()) error(what, " is not an array");
    return v;
  }

  template <class... Parts>
  [[noreturn]] void error(const Parts&... parts) const {
    fail_format(source_, "index: ", parts...);
  }

 private:
  const std::string& source_;
};

BundleFile read_file_entry(const IndexReader& r, const json::Value& f, size_t i, uint64_t frames_end,
                           const std::string& source) {
  const std::string where = cat("files[", i, "]");
  if (!f.is_object()) r.error(where, " is not an object");
  BundleFile file;
  file.path = r.string(r.member(f, "path", where), where + ".path");
  check_bundle_path(file.path, source + ": index " + where);
  const std::string what = "file '" + file.path + "'";
  file.size = r.integer(r.member(f, "size", what), what + " size");
  file.crc32 = static_cast<uint32_t>(r.integer(r.member(f, "crc32", what), what + " crc32", UINT32_MAX));
  const json::Value& segments = r.array(r.member(f, "segments", what), what + " segments");
  uint64_t at = 0;
  for (size_t s = 0; s < segments.size(); ++s) {
    const json::Value& sj = segments.items()[s];
    const std::string sw = cat(what, " segment ", s);
    if (!sj.is_object()) r.error(sw, " is not an object");
    BundleSegment seg;
    seg.offset = at;
    seg.length = r.integer(r.member(sj, "length", sw), sw + " length");
    seg.plane_width = static_cast<size_t>(r.integer(r.member(sj, "planes", sw), sw + " planes", 8));
    if (seg.plane_width != 1 && seg.plane_width != 2 && seg.plane_width != 4 && seg.plane_width != 8)
      r.error(sw, ": ", seg.plane_width, " byte planes (1, 2, 4 or 8)");
    if (const json::Value* t = sj.find("tensor")) {
      seg.tensor = r.string(*t, sw + " tensor");
      if (seg.tensor.empty()) r.error(sw, ": empty tensor name");
    }
    if (const json::Value* d = sj.find("dtype")) seg.dtype = r.string(*d, sw + " dtype");
    const std::string cw = seg.is_tensor() ? cat(what, " tensor '", seg.tensor, "'") : sw;
    if (seg.length == 0) r.error(cw, ": empty segment");
    if (seg.length > file.size - std::min(at, file.size)) r.error(cw, ": segments run past the file's ", file.size, " bytes");
    const json::Value& chunks = r.array(r.member(sj, "chunks", sw), sw + " chunks");
    if (chunks.size() == 0) r.error(cw, ": no chunks");
    seg.first_chunk = static_cast<uint32_t>(file.chunks.size());
    seg.chunk_count = static_cast<uint32_t>(chunks.size());
    uint64_t seg_at = 0;
    for (size_t c = 0; c < chunks.size(); ++c) {
      const json::Value& cj = chunks.items()[c];
      const std::string ck = cat(cw, " chunk ", c);
      if (!cj.is_array() || cj.size() != 4) r.error(ck, " is not [frame offset, frame length, bytes, crc32]");
      BundleChunk chunk;
      chunk.frame_offset = r.integer(cj.items()[0], ck + " frame offset");
      chunk.frame_length = r.integer(cj.items()[1], ck + " frame length");
      chunk.raw_length = r.integer(cj.items()[2], ck + " length", kMaxChunkBytes);
      chunk.crc32 = static_cast<uint32_t>(r.integer(cj.items()[3], ck + " crc32", UINT32_MAX));
      chunk.raw_offset = at + seg_at;
      chunk.segment = static_cast<uint32_t>(file.segments.size());
      if (chunk.raw_length == 0 || chunk.raw_length % seg.plane_width != 0 || chunk.raw_length > seg.length - seg_at)
        r.error(ck, ": ", chunk.raw_length, " bytes do not fit the segment (", seg.length - seg_at, " left, planes of ",
                seg.plane_width, ")");
      if (chunk.frame_length == 0 || chunk.frame_offset < kBundlePreambleBytes || chunk.frame_offset > frames_end ||
          chunk.frame_length > frames_end - chunk.frame_offset)
        r.error(ck, ": frame [", chunk.frame_offset, ", +", chunk.frame_length, ") lies outside the frames [",
                kBundlePreambleBytes, ", ", frames_end, ")");
      seg_at += chunk.raw_length;
      file.chunks.push_back(chunk);
    }
    if (seg_at != seg.length) r.error(cw, ": chunks hold ", seg_at, " of the segment's ", seg.length, " bytes");
    at += seg.length;
    file.segments.push_back(std::move(seg));
  }
  if (at != file.size) r.error(what, ": segments hold ", at, " of the file's ", file.size, " bytes");
  return file;
}

}  // namespace

std::string bundle_preamble() {
  std::string s(kMagic, 8);
  put_le(s, kBundleVersion, 4);
  put_le(s, 0, 4);
  return s;
}

std::string bundle_end_record(uint64_t index_offset, uint64_t index_length, uint32_t index_crc32) {
  std::string s;
  put_le(s, index_offset, 8);
  put_le(s, index_length, 8);
  put_le(s, index_crc32, 4);
  put_le(s, kBundleVersion, 4);
  s.append(kEndMagic, 8);
  return s;
}

bool has_bundle_magic(const uint8_t* head, size_t n) { return n >= 8 && std::memcmp(head, kMagic, 8) == 0; }

void check_bundle_path(const std::string& path, const std::string& source) {
  check_relative_name(path, source, true);
  if (path.back() == '/') fail_format(source, "path '", path, "' ends with '/'");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (path.compare(start, end - start, ".") == 0) fail_format(source, "path '", path, "' has a '.' component");
    start = end + 1;
  }
}

std::string bundle_index_json(const BundleIndex& index) {
  json::Value root = json::Value::object();
  root.set("format", "mbridge-bundle");
  root.set("version", static_cast<int64_t>(kBundleVersion));
  root.set("kind", index.kind);
  root.set("created_by", index.created_by);
  root.set("chunk_bytes", index.chunk_bytes);
  root.set("level", index.level);
  root.set("tensor_level", index.tensor_level);
  json::Value dirs = json::Value::array();
  for (const std::string& d : index.directories) dirs.push(d);
  root.set("directories", std::move(dirs));
  json::Value files = json::Value::array();
  for (const BundleFile& f : index.files) {
    json::Value fj = json::Value::object();
    fj.set("path", f.path);
    fj.set("size", f.size);
    fj.set("crc32", static_cast<uint64_t>(f.crc32));
    json::Value segs = json::Value::array();
    for (const BundleSegment& s : f.segments) {
      json::Value sj = json::Value::object();
      sj.set("length", s.length);
      sj.set("planes", static_cast<uint64_t>(s.plane_width));
      if (s.is_tensor()) sj.set("tensor", s.tensor);
      if (!s.dtype.empty()) sj.set("dtype", s.dtype);
      json::Value chunks = json::Value::array();
      for (uint32_t c = s.first_chunk; c < s.first_chunk + s.chunk_count; ++c) {
        const BundleChunk& k = f.chunks[c];
        json::Value cj = json::Value::array();
        cj.push(k.frame_offset);
        cj.push(k.frame_length);
        cj.push(k.raw_length);
        cj.push(static_cast<uint64_t>(k.crc32));
        chunks.push(std::move(cj));
      }
      sj.set("chunks", std::move(chunks));
      segs.push(std::move(sj));
    }
    fj.set("segments", std::move(segs));
    files.push(std::move(fj));
  }
  root.set("files", std::move(files));
  return json::dump(root);
}

BundleIndex parse_bundle(ByteView bytes, const std::string& source) {
  if (bytes.size < kBundlePreambleBytes || !has_bundle_magic(bytes.data, bytes.size))
    fail_format(source, "not an mbridge bundle (no \\x89MBZ magic)");
  const uint64_t version = get_le(bytes.data + 8, 4);
  if (version != kBundleVersion)
    fail(Status::kUnsupported, source, ": bundle version ", version, " (this mbridge reads version ", kBundleVersion, ")");
  if (bytes.size < kBundlePreambleBytes + kBundleEndBytes)
    fail_format(source, "truncated: ", bytes.size, " bytes cannot hold a bundle's preamble and end record");
  const uint8_t* end = bytes.data + bytes.size - kBundleEndBytes;
  if (std::memcmp(end + 24, kEndMagic, 8) != 0)
    fail_format(source, "truncated or damaged: the last ", kBundleEndBytes, " bytes are not a bundle end record");
  const uint64_t index_offset = get_le(end, 8), index_length = get_le(end + 8, 8);
  const uint32_t index_crc = static_cast<uint32_t>(get_le(end + 16, 4));
  if (get_le(end + 20, 4) != version) fail_format(source, "end record and preamble disagree on the version");
  const uint64_t index_end = bytes.size - kBundleEndBytes;
  if (index_offset < kBundlePreambleBytes || index_offset > index_end || index_length != index_end - index_offset)
    fail_format(source, "end record places the index at [", index_offset, ", +", index_length, ") in a file of ",
                bytes.size, " bytes");
  if (index_length > kBundleMaxIndexBytes) fail_format(source, "index of ", index_length, " bytes (limit ", kBundleMaxIndexBytes, ")");
  const uint8_t* text = bytes.data + index_offset;
  if (crc32_of(text, index_length) != index_crc) fail_format(source, "index checksum mismatch: the bundle is damaged");

  json::Value root = json::parse(std::string_view(reinterpret_cast<const char*>(text), index_length), source + " (index)");
  IndexReader r(source);
  if (!root.is_object()) r.error("not a JSON object");
  const json::Value* format = root.find("format");
  if (!format || !format->is_string() || format->as_string() != "mbridge-bundle") r.error("\"format\" is not \"mbridge-bundle\"");
  if (r.integer(r.member(root, "version", "the index"), "version") != version)
    r.error("version disagrees with the preamble");
  BundleIndex index;
  index.index_offset = index_offset;
  index.bundle_size = bytes.size;
  index.kind = r.string(r.member(root, "kind", "the index"), "kind");
  if (index.kind != "hf" && index.kind != "megatron" && index.kind != "files")
    r.error("kind '", index.kind, "' (hf, megatron or files)");
  if (const json::Value* c = root.find("created_by")) index.created_by = r.string(*c, "created_by");
  index.chunk_bytes = r.integer(r.member(root, "chunk_bytes", "the index"), "chunk_bytes", kMaxChunkBytes);
  index.level = static_cast<int>(r.integer(r.member(root, "level", "the index"), "level", 22));
  index.tensor_level = static_cast<int>(r.integer(r.member(root, "tensor_level", "the index"), "tensor_level", 22));

  std::set<std::string> dirs;
  const json::Value& dj = r.array(r.member(root, "directories", "the index"), "directories");
  for (size_t i = 0; i < dj.size(); ++i) {
    const std::string& d = r.string(dj.items()[i], cat("directories[", i, "]"));
    check_bundle_path(d, source + ": index directories");
    if (!dirs.insert(d).second) r.error("directory '", d, "' is listed twice");
    index.directories.push_back(d);
  }
  const json::Value& fj = r.array(r.member(root, "files", "the index"), "files");
  if (fj.size() > kBundleMaxFiles) r.error(fj.size(), " files (limit ", kBundleMaxFiles, ")");
  std::set<std::string> paths;
  for (size_t i = 0; i < fj.size(); ++i) {
    index.files.push_back(read_file_entry(r, fj.items()[i], i, index_offset, source));
    const std::string& p = index.files.back().path;
    if (!paths.insert(p).second) r.error("file '", p, "' is listed twice");
    if (dirs.count(p)) r.error("'", p, "' is listed both as a file and as a directory");
  }
  // A path cannot be a file and hold others: "a" and "a/b" together would make unpack write through a file.
  auto check_parents = [&](const std::string& p) {
    for (size_t slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1))
      if (paths.count(p.substr(0, slash))) r.error("'", p.substr(0, slash), "' is a file but '", p, "' lies inside it");
  };
  for (const std::string& p : paths) check_parents(p);
  for (const std::string& d : dirs) check_parents(d);

  // The frames must tile [preamble, index) exactly: no overlap (one frame cannot serve two chunks), no gap.
  std::vector<std::pair<uint64_t, uint64_t>> frames;
  for (const BundleFile& f : index.files)
    for (const BundleChunk& c : f.chunks) frames.emplace_back(c.frame_offset, c.frame_length);
  std::sort(frames.begin(), frames.end());
  uint64_t at = kBundlePreambleBytes;
  for (const auto& [offset, length] : frames) {
    if (offset != at)
      fail_format(source, "index: a frame starts at ", offset, " where ", at,
                  offset < at ? " (two chunks share bytes)" : " (bytes no chunk uses precede it)");
    at += length;
  }
  if (at != index_offset) fail_format(source, "index: the frames end at ", at, " but the index starts at ", index_offset);
  return index;
}

}  // namespace mb
