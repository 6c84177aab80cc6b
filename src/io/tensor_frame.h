// A tensor frame: one tensor as a self-contained compressed blob, for shipping weights to another process
// (mb_export_next_frame) and reading them back there (mb_frame_info, mb_frame_decode). It carries the
// tensor's name, dtype and shape and its bytes as independent zstd chunks of byte planes (io/zstd_chunk.h),
// each with the CRC-32 of its decoded bytes, so a receiver can decode the chunks in parallel and knows when
// a frame was damaged on the way. Layout: docs/formats.md, "Tensor frames".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/zstd_chunk.h"

namespace mb {

constexpr uint32_t kTensorFrameVersion = 1;

struct TensorFrameChunk {
  uint64_t frame_offset = 0;  // in the blob
  uint64_t frame_length = 0;
  uint64_t raw_offset = 0;    // in the decoded tensor bytes
  uint64_t raw_length = 0;
  uint32_t crc32 = 0;
};

struct TensorFrameInfo {
  std::string_view name;  // points into the blob (NUL-terminated there)
  DType dtype = DType::U8;
  Dims shape;
  uint64_t nbytes = 0;
  size_t plane_width = 1;
  std::vector<TensorFrameChunk> chunks;
};

struct TensorFrameOptions {
  int level = kDefaultTensorZstdLevel;
  uint64_t chunk_bytes = kDefaultChunkBytes;
  size_t threads = 0;  // 0: every core
};

// The frame of a (host) tensor; its bytes are taken contiguous, row-major.
std::vector<uint8_t> encode_tensor_frame(const std::string& name, const Tensor& tensor, const TensorFrameOptions& options = {});

// Reads and checks a frame's header (every size, offset and checksum it states); nothing is decompressed.
TensorFrameInfo parse_tensor_frame(ByteView frame);

// Decodes a frame into dst, which must hold exactly its tensor's nbytes; checks every chunk.
void decode_tensor_frame(ByteView frame, void* dst, size_t dst_size, size_t threads = 0);

}  // namespace mb
