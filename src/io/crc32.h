// CRC-32 (the zip / gzip polynomial) of bytes written into zip archives. Every .pt entry and every
// torch_dist item carries one, so at checkpoint scale this runs over every byte written: on x86-64
// CPUs with carry-less multiply it folds 64 bytes per step (about memcpy speed), elsewhere zlib's;
// large buffers are split over several cores.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mb {

// Continues `crc` (0 to start) over n bytes; same result as zlib's crc32(crc, data, n).
uint32_t crc32_of(const void* data, size_t n, uint32_t crc = 0);

// zlib's implementation alone, for tests and for machines without carry-less multiply.
uint32_t crc32_portable(const void* data, size_t n, uint32_t crc = 0);

}  // namespace mb
