// One chunk of bytes as one independent zstd frame, the unit both bundles (io/bundle_*) and tensor
// frames (io/tensor_frame) are made of: the bytes are split into byte planes (io/byte_planes.h) for
// tensor data, compressed alone (so chunks can be decoded in any order, in parallel, and a reader can
// seek to one), and checked on the way back against the CRC-32 of the original bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace mb {

// The most bytes one chunk may hold (readers refuse more: it bounds the memory a hostile file can ask for).
constexpr uint64_t kMaxChunkBytes = 64ull << 20;
constexpr uint64_t kDefaultChunkBytes = 4ull << 20;
// zstd levels: 3 (zstd's own default) for other bytes. Tensor data gets 1: on byte planes of bf16 weights,
// level 3's stronger match search finds short coincidental matches in the exponent bytes that cost more
// than Huffman-coding them, so level 1 compresses both better and faster (normal(0, 0.02) bf16: ratio 1.461
// in 4.3 s of CPU against 1.406 in 7.4 s; docs/performance.md).
constexpr int kDefaultZstdLevel = 3;
constexpr int kDefaultTensorZstdLevel = 1;

// Accepted compression levels: zstd's 1..22 (ZSTD_maxCLevel). Throws kInvalidArgument otherwise.
void check_zstd_level(int level);

// Compresses n bytes (whole elements of plane_width) into one zstd frame that records its size.
std::vector<uint8_t> compress_chunk(const uint8_t* raw, size_t n, size_t plane_width, int level);

// Decodes `frame`, which must be exactly one zstd frame of n bytes, into dst (n bytes), merges the
// planes, and checks the CRC-32 of the result. Errors are format errors that start with `what` (the
// file, tensor and chunk).
void decompress_chunk(ByteView frame, size_t plane_width, uint8_t* dst, size_t n, uint32_t crc32,
                      const std::string& what);

}  // namespace mb
