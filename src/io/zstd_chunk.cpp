#include "io/zstd_chunk.h"

#include <zstd.h>

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "io/byte_planes.h"
#include "io/crc32.h"

namespace mb {

namespace {

// One compression and one decompression context per thread, reused across chunks.
struct Contexts {
  ZSTD_CCtx* c = nullptr;
  ZSTD_DCtx* d = nullptr;
  std::vector<uint8_t> planes;  // scratch for the plane-split bytes
  ~Contexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};
Contexts& contexts() {
  thread_local Contexts ctx;
  return ctx;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return buf;
}

}  // namespace

void check_zstd_level(int level) {
  if (level < 1 || level > ZSTD_maxCLevel())
    fail(Status::kInvalidArgument, "zstd level ", level, " is out of range (1..", ZSTD_maxCLevel(), ")");
}

std::vector<uint8_t> compress_chunk(const uint8_t* raw, size_t n, size_t plane_width, int level) {
  Contexts& ctx = contexts();
  if (!ctx.c && !(ctx.c = ZSTD_createCCtx())) throw std::bad_alloc();
  const uint8_t* src = raw;
  if (plane_width > 1) {
    ctx.planes.resize(n);
    split_planes(raw, n, plane_width, ctx.planes.data());
    src = ctx.planes.data();
  }
  std::vector<uint8_t> out(ZSTD_compressBound(n));
  size_t got = ZSTD_compressCCtx(ctx.c, out.data(), out.size(), src, n, level);
  if (ZSTD_isError(got)) fail(Status::kInternal, "zstd compression failed: ", ZSTD_getErrorName(got));
  out.resize(got);
  return out;
}

void decompress_chunk(ByteView frame, size_t plane_width, uint8_t* dst, size_t n, uint32_t crc32,
                      const std::string& what) {
  // Exactly one frame, of exactly the size the index promises: nothing may be written past dst + n.
  size_t frame_size = ZSTD_findFrameCompressedSize(frame.data, frame.size);
  if (ZSTD_isError(frame_size))
    fail(Status::kFormat, what, ": not a zstd frame (", ZSTD_getErrorName(frame_size), ")");
  if (frame_size != frame.size)
    fail(Status::kFormat, what, ": the zstd frame is ", frame_size, " bytes but ", frame.size, " are recorded");
  unsigned long long content = ZSTD_getFrameContentSize(frame.data, frame.size);
  if (content != n)
    fail(Status::kFormat, what, ": the zstd frame holds ",
         content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR ? std::string("an unrecorded number of")
                                                                                 : std::to_string(content),
         " bytes where ", n, " are recorded");
  Contexts& ctx = contexts();
  if (!ctx.d && !(ctx.d = ZSTD_createDCtx())) throw std::bad_alloc();
  uint8_t* out = dst;
  if (plane_width > 1) {
    ctx.planes.resize(n);
    out = ctx.planes.data();
  }
  size_t got = ZSTD_decompressDCtx(ctx.d, out, n, frame.data, frame.size);
  if (ZSTD_isError(got)) fail(Status::kFormat, what, ": damaged zstd data (", ZSTD_getErrorName(got), ")");
  if (got != n) fail(Status::kFormat, what, ": decoded ", got, " bytes where ", n, " are recorded");
  if (plane_width > 1) merge_planes(out, n, plane_width, dst);
  uint32_t actual = crc32_of(dst, n);
  if (actual != crc32)
    fail(Status::kFormat, what, ": checksum mismatch (CRC-32 ", hex32(actual), ", recorded ", hex32(crc32),
         ")");
}

}  // namespace mb
