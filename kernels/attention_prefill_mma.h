// attention_prefill_mma.cu: the tensor-core prefill attention, taken by attention_prefill (kernels.h) for the
// head dims it is built for.
#pragma once

#include "kernels/kernels.h"

namespace mb::kernels {

// Queues the kernel and returns true for head dims 64 and 128 (else false, and queues nothing); arguments as
// attention_prefill's.
bool attention_prefill_mma(const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* offsets,
                           const int32_t* lengths, int batch, int max_length, QkvShape shape, int64_t cache_len,
                           bf16* out, cudaStream_t stream);

}  // namespace mb::kernels
