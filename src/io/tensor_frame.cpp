#include "io/tensor_frame.h"

#include <cstring>

#include "core/error.h"
#include "core/threads.h"
#include "io/byte_planes.h"
#include "io/crc32.h"

namespace mb {

namespace {

constexpr char kMagic[4] = {'M', 'B', 'T', 'F'};
constexpr size_t kFixedBytes = 40;  // magic .. reserved, before the shape
constexpr size_t kChunkEntryBytes = 24;
constexpr uint32_t kMaxNameBytes = 65536;
constexpr uint64_t kMaxHeaderBytes = 64ull << 20;
const char* kWhat = "tensor frame";

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Chunk boundaries: every chunk_bytes (rounded down to whole elements), the last one shorter.
std::vector<std::pair<uint64_t, uint64_t>> chunk_ranges(uint64_t total, uint64_t chunk_bytes, size_t width) {
  uint64_t step = std::max<uint64_t>(width, std::min(chunk_bytes, kMaxChunkBytes) / width * width);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (uint64_t at = 0; at < total; at += step) out.emplace_back(at, std::min(step, total - at));
  return out;
}

}  // namespace

std::vector<uint8_t> encode_tensor_frame(const std::string& name, const Tensor& tensor, const TensorFrameOptions& options) {
  check_zstd_level(options.level);
  if (name.size() > kMaxNameBytes || name.find('\0') != std::string::npos)
    fail(Status::kInvalidArgument, "tensor frame: name '", name.substr(0, 64), "' is longer than ", kMaxNameBytes,
         " bytes or holds a NUL");
  Tensor t = tensor.device().is_cpu() ? tensor.contiguous() : tensor.to(Device{}).contiguous();
  const uint64_t nbytes = t.nbytes();
  const size_t width = plane_width_for(dtype_size(t.dtype()));
  auto ranges = chunk_ranges(nbytes, options.chunk_bytes, width);
  std::vector<std::vector<uint8_t>> frames(ranges.size());
  std::vector<uint32_t> crcs(ranges.size());
  const auto* raw = static_cast<const uint8_t*>(nbytes ? t.data() : nullptr);
  parallel_for(ranges.size(), options.threads, [&](size_t i) {
    frames[i] = compress_chunk(raw + ranges[i].first, ranges[i].second, width, options.level);
    crcs[i] = crc32_of(raw + ranges[i].first, ranges[i].second);
  });

  size_t header = kFixedBytes + 8 * static_cast<size_t>(t.ndim()) + kChunkEntryBytes * ranges.size() + name.size() + 1;
  header = (header + 7) / 8 * 8;
  size_t total = header;
  for (const auto& f : frames) total += f.size();
  std::vector<uint8_t> out(total, 0);
  std::memcpy(out.data(), kMagic, 4);
  put_u32(out, 4, kTensorFrameVersion);
  put_u32(out, 8, static_cast<uint32_t>(header));
  out[16] = static_cast<uint8_t>(t.dtype());
  out[17] = static_cast<uint8_t>(width);
  out[18] = static_cast<uint8_t>(t.ndim());
  put_u32(out, 20, static_cast<uint32_t>(name.size()));
  put_u64(out, 24, nbytes);
  put_u32(out, 32, static_cast<uint32_t>(ranges.size()));
  size_t at = kFixedBytes;
  for (int d = 0; d < t.ndim(); ++d, at += 8) put_u64(out, at, static_cast<uint64_t>(t.shape()[d]));
  for (size_t i = 0; i < ranges.size(); ++i, at += kChunkEntryBytes) {
    put_u64(out, at, frames[i].size());
    put_u64(out, at + 8, ranges[i].second);
    put_u32(out, at + 16, crcs[i]);
  }
  std::memcpy(out.data() + at, name.data(), name.size());  // the NUL and padding are already zero
  put_u32(out, 12, crc32_of(out.data() + 16, header - 16));
  at = header;
  for (const auto& f : frames) {
    std::memcpy(out.data() + at, f.data(), f.size());
    at += f.size();
  }
  return out;
}

TensorFrameInfo parse_tensor_frame(ByteView frame) {
  const uint8_t* p = frame.data;
  if (frame.size < kFixedBytes || std::memcmp(p, kMagic, 4) != 0)
    fail(Status::kFormat, kWhat, ": not a tensor frame (", frame.size < kFixedBytes ? "too short" : "no MBTF magic", ")");
  uint32_t version = get_u32(p + 4);
  if (version != kTensorFrameVersion)
    fail(Status::kUnsupported, kWhat, ": version ", version, " (this library reads version ", kTensorFrameVersion, ")");
  const uint64_t header = get_u32(p + 8);
  if (header < kFixedBytes || header % 8 != 0 || header > frame.size || header > kMaxHeaderBytes)
    fail(Status::kFormat, kWhat, ": header length ", header, " is invalid for a frame of ", frame.size, " bytes");
  if (crc32_of(p + 16, header - 16) != get_u32(p + 12)) fail(Status::kFormat, kWhat, ": header checksum mismatch");

  TensorFrameInfo info;
  if (p[16] >= kNumDTypes) fail(Status::kFormat, kWhat, ": unknown dtype code ", int(p[16]));
  info.dtype = static_cast<DType>(p[16]);
  info.plane_width = p[17];
  const size_t element = dtype_size(info.dtype);
  if (info.plane_width != 1 && info.plane_width != plane_width_for(element))
    fail(Status::kFormat, kWhat, ": ", int(p[17]), " byte planes for ", dtype_name(info.dtype), " elements");
  const size_t ndim = p[18];
  if (ndim > static_cast<size_t>(kMaxDims)) fail(Status::kFormat, kWhat, ": ", ndim, " dimensions (at most ", kMaxDims, ")");
  const uint64_t name_length = get_u32(p + 20);
  info.nbytes = get_u64(p + 24);
  const uint64_t count = get_u32(p + 32);
  if (p[19] != 0 || get_u32(p + 36) != 0) fail(Status::kFormat, kWhat, ": reserved header bytes are not zero");
  if (name_length > kMaxNameBytes) fail(Status::kFormat, kWhat, ": name of ", name_length, " bytes");
  const uint64_t fixed = kFixedBytes + 8 * ndim + kChunkEntryBytes * count;  // count < 2^32: no overflow
  if (fixed + name_length + 1 > header)
    fail(Status::kFormat, kWhat, ": ", count, " chunks and a name of ", name_length, " bytes do not fit in a header of ",
         header, " bytes");
  size_t at = kFixedBytes;
  for (size_t d = 0; d < ndim; ++d, at += 8) {
    uint64_t extent = get_u64(p + at);
    if (extent > static_cast<uint64_t>(INT64_MAX)) fail(Status::kFormat, kWhat, ": negative extent in the shape");
    info.shape.push_back(static_cast<int64_t>(extent));
  }
  uint64_t expected;
  if (!checked_nbytes(info.shape, element, &expected) || expected != info.nbytes)
    fail(Status::kFormat, kWhat, ": ", dtype_name(info.dtype), info.shape.to_string(), " does not hold ", info.nbytes, " bytes");
  const char* name = reinterpret_cast<const char*>(p + fixed);
  if (std::memchr(name, '\0', name_length) || name[name_length] != '\0')
    fail(Status::kFormat, kWhat, ": the name is not a NUL-terminated string of ", name_length, " bytes");
  for (uint64_t i = fixed + name_length + 1; i < header; ++i)
    if (p[i] != 0) fail(Status::kFormat, kWhat, ": header padding is not zero");
  info.name = std::string_view(name, name_length);
  const std::string what = std::string(kWhat) + " '" + std::string(info.name) + "'";

  uint64_t raw_at = 0, frame_at = header;
  for (uint64_t i = 0; i < count; ++i, at += kChunkEntryBytes) {
    TensorFrameChunk c;
    c.frame_length = get_u64(p + at);
    c.raw_length = get_u64(p + at + 8);
    c.crc32 = get_u32(p + at + 16);
    if (get_u32(p + at + 20) != 0) fail(Status::kFormat, what, ": reserved chunk bytes are not zero");
    if (c.raw_length == 0 || c.raw_length > kMaxChunkBytes || c.raw_length % info.plane_width != 0 ||
        c.raw_length > info.nbytes - raw_at)
      fail(Status::kFormat, what, ": chunk ", i, " claims ", c.raw_length, " bytes, which does not fit the tensor's ",
           info.nbytes);
    if (c.frame_length == 0 || c.frame_length > frame.size - frame_at)
      fail(Status::kFormat, what, ": truncated: chunk ", i, " (", c.frame_length, " compressed bytes) runs past the end of the frame");
    c.raw_offset = raw_at;
    c.frame_offset = frame_at;
    raw_at += c.raw_length;
    frame_at += c.frame_length;
    info.chunks.push_back(c);
  }
  if (raw_at != info.nbytes)
    fail(Status::kFormat, what, ": the chunks hold ", raw_at, " of the tensor's ", info.nbytes, " bytes");
  if (frame_at != frame.size)
    fail(Status::kFormat, what, ": ", frame.size - frame_at, " bytes after the last chunk (or the frame is truncated)");
  return info;
}

void decode_tensor_frame(ByteView frame, void* dst, size_t dst_size, size_t threads) {
  TensorFrameInfo info = parse_tensor_frame(frame);
  if (dst_size != info.nbytes)
    fail(Status::kInvalidArgument, "tensor frame '", std::string(info.name), "' decodes to ", info.nbytes,
         " bytes, not ", dst_size);
  auto* out = static_cast<uint8_t*>(dst);
  parallel_for(info.chunks.size(), threads, [&](size_t i) {
    const TensorFrameChunk& c = info.chunks[i];
    decompress_chunk(frame.sub(c.frame_offset, c.frame_length), info.plane_width, out + c.raw_offset, c.raw_length,
                     c.crc32, cat("tensor frame '", info.name, "' chunk ", i, " of ", info.chunks.size()));
  });
}

}  // namespace mb
