// One head of q or k between the qkv projection and attention, done by one warp: the per-head RMSNorm (Qwen3's
// q/k norms, when given) and the rotary embedding (rotate-half pairs (i, i + d/2), angle position * inv_freq[i],
// or angles[i] when the caller has each pair's angle (Qwen2.5-VL's multimodal positions and its vision tower's
// rows and columns); none without either: GPT-2's positions are in its embeddings).
// Shared by the prefill path's rope kernel and the decode attention kernel, which rotates as it goes.
#pragma once

#include "kernels/common.cuh"

namespace mb::kernels {

// h: the head's d values (bias added) in shared memory, visible to the whole warp. store(i, value) receives
// every rotated element once.
template <typename Store>
__device__ __forceinline__ void rotate_head(const float* h, int d, const float* norm, float eps, const float* inv_freq,
                                            float position, Store store, const float* angles = nullptr) {
  const int lane = threadIdx.x & 31, half = d / 2;
  float inv = 1.f;
  if (norm) {
    float sum = 0.f;
    for (int i = lane; i < d; i += 32) sum += h[i] * h[i];
    inv = 1.f / sqrtf(warp_sum(sum) / static_cast<float>(d) + eps);
  }
  for (int i = lane; i < half; i += 32) {
    float a = h[i], b = h[i + half];
    if (norm) a = norm[i] * (a * inv), b = norm[i + half] * (b * inv);
    if (!inv_freq && !angles) {
      store(i, a);
      store(i + half, b);
      continue;
    }
    float sn, cs;
    sincosf(angles ? angles[i] : position * inv_freq[i], &sn, &cs);
    store(i, a * cs - b * sn);
    store(i + half, b * cs + a * sn);
  }
}

}  // namespace mb::kernels
