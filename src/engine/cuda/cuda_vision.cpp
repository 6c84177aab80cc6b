// LLaVA's image path on the CUDA backend, with the kernels the language model uses: the CLIP tower (patches
// as rows multiplied by the convolution's weight, the class token, learned positions, pre-LayerNorm layers
// with full attention and quick_gelu MLPs) up to its feature layer, the class token dropped, then the GELU
// projector; the features replace the image tokens' embeddings in order. As the CPU reference (cpu_vision.cpp).
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/float_formats.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_model_impl.h"
#include "engine/cuda/gemm.h"

namespace mb::engine {

using cuda::check;

void CudaModel::Impl::image_features(const Image& image, float* out) {
  const bridge::ModelConfig& c = config;
  const bridge::ModelConfig& v = *c.vision;
  const int64_t C = c.image_channels, size = c.image_size, P = c.patch_size, side = size / P;
  check_tower_image(c, image);
  const int64_t N = side * side, S = N + 1, D = v.hidden_size, F = v.ffn_hidden_size, H = c.hidden_size;
  const int64_t K = C * P * P, wide = std::max({F, H, D});
  const float eps = static_cast<float>(v.norm_epsilon);

  // patch n as row n, its values in the convolution weight's (channel, row, column) order
  std::vector<uint16_t> patches(static_cast<size_t>(N * K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t i = 0; i < P; ++i)
        for (int64_t j = 0; j < P; ++j)
          patches[static_cast<size_t>(n * K + (ch * P + i) * P + j)] = f32_to_bf16(
              image.pixels[static_cast<size_t>((ch * size + (n / side) * P + i) * size + (n % side) * P + j)]);
  // the tower's rows are one sequence: positions 0..S-1, seen all at once
  std::vector<int32_t> seq(static_cast<size_t>(S), 0), pos(static_cast<size_t>(S)), plan = {0, static_cast<int32_t>(S)};
  std::iota(pos.begin(), pos.end(), 0);

  cuda::PoolBuffer patches_dev = pool->allocate_n<bf16>(patches.size(), "image patches");
  cuda::PoolBuffer x = pool->allocate_n<float>(static_cast<size_t>(S * D), "vision residual stream");
  cuda::PoolBuffer h = pool->allocate_n<bf16>(static_cast<size_t>(S * wide), "vision activations");
  cuda::PoolBuffer qkv = pool->allocate_n<float>(static_cast<size_t>(S * 3 * D), "vision q, k, v");
  cuda::PoolBuffer q = pool->allocate_n<bf16>(static_cast<size_t>(S * D), "vision queries");
  cuda::PoolBuffer k = pool->allocate_n<bf16>(static_cast<size_t>(S * D), "vision keys");
  cuda::PoolBuffer val = pool->allocate_n<bf16>(static_cast<size_t>(S * D), "vision values");
  cuda::PoolBuffer attn = pool->allocate_n<bf16>(static_cast<size_t>(S * D), "vision attention");
  cuda::PoolBuffer delta = pool->allocate_n<float>(static_cast<size_t>(S * D), "vision branch output");
  cuda::PoolBuffer mid = pool->allocate_n<float>(static_cast<size_t>(S * wide), "vision MLP");
  cuda::PoolBuffer rows = pool->allocate_n<int32_t>(2 * static_cast<size_t>(S) + 2, "vision rows");
  auto h2d = [&](void* dst, const void* src, size_t bytes) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream), "uploading an image");
  };
  h2d(patches_dev.as<void>(), patches.data(), patches.size() * sizeof(uint16_t));
  int32_t* seq_dev = rows.as<int32_t>();
  int32_t* pos_dev = seq_dev + S;
  int32_t* plan_dev = pos_dev + S;
  h2d(seq_dev, seq.data(), seq.size() * sizeof(int32_t));
  h2d(pos_dev, pos.data(), pos.size() * sizeof(int32_t));
  h2d(plan_dev, plan.data(), plan.size() * sizeof(int32_t));
  // (pageable host memory is staged before cudaMemcpyAsync returns, so the vectors may go)

  float* xs = x.as<float>();
  check(cudaMemcpyAsync(xs, vision.class_token, D * sizeof(float), cudaMemcpyDeviceToDevice, stream), "the class token");
  cuda::linear(cublas, patches_dev.as<bf16>(), N, K, vision.patch, D, xs + D);
  kernels::add_bias(xs, 1, S * D, vision.positions, stream);  // every row plus its position's embedding
  kernels::add_rms_norm(xs, nullptr, 1.f, vision.pre_norm, S, D, eps, 1.f, h.as<bf16>(), stream, vision.pre_norm_bias,
                        true);  // x = ln_pre(x)
  kernels::QkvShape s{static_cast<int>(v.num_attention_heads), static_cast<int>(v.num_attention_heads),
                      static_cast<int>(v.kv_channels)};
  s.causal = false;
  const kernels::GateActivation act =
      v.mlp_activation == "gelu" ? kernels::GateActivation::kGelu : kernels::GateActivation::kQuickGelu;
  for (size_t l = 0; l < vision.layers.size(); ++l) {
    const VisionWeights::Layer& w = vision.layers[l];
    // the previous layer's MLP output joins the stream as this layer's norm reads it
    kernels::add_rms_norm(xs, l ? delta.as<float>() : nullptr, 1.f, w.input_norm, S, D, eps, 1.f, h.as<bf16>(), stream,
                          w.input_norm_bias);
    cuda::linear(cublas, h.as<bf16>(), S, D, w.qkv, 3 * D, qkv.as<float>());
    kernels::rope_qkv(qkv.as<float>(), S, s, w.qkv_bias, nullptr, nullptr, eps, nullptr, seq_dev, pos_dev, q.as<bf16>(),
                      k.as<bf16>(), val.as<bf16>(), S, stream);  // (no rotation: the bias, q apart, k and v placed)
    kernels::attention_prefill(q.as<bf16>(), k.as<bf16>(), val.as<bf16>(), plan_dev, plan_dev + 1, 1,
                               static_cast<int>(S), s, S, attn.as<bf16>(), stream);
    cuda::linear(cublas, attn.as<bf16>(), S, D, w.proj, D, delta.as<float>());
    kernels::add_bias(delta.as<float>(), S, D, w.proj_bias, stream);
    kernels::add_rms_norm(xs, delta.as<float>(), 1.f, w.pre_mlp_norm, S, D, eps, 1.f, h.as<bf16>(), stream,
                          w.pre_mlp_norm_bias);
    cuda::linear(cublas, h.as<bf16>(), S, D, w.fc1, F, mid.as<float>());
    kernels::add_bias(mid.as<float>(), S, F, w.fc1_bias, stream);
    kernels::swiglu(mid.as<float>(), S, F, h.as<bf16>(), stream, act, false);
    cuda::linear(cublas, h.as<bf16>(), S, F, w.fc2, D, delta.as<float>());
    kernels::add_bias(delta.as<float>(), S, D, w.fc2_bias, stream);
  }
  if (!vision.layers.empty()) kernels::add_bias(xs, 1, S * D, delta.as<float>(), stream);  // x += the last MLP's

  // the projector over the patches' features (the class token dropped)
  kernels::swiglu(xs + D, N, D, h.as<bf16>(), stream, kernels::GateActivation::kNone, false);  // to bf16
  cuda::linear(cublas, h.as<bf16>(), N, D, vision.projector_fc1, H, mid.as<float>());
  if (vision.projector_fc1_bias) kernels::add_bias(mid.as<float>(), N, H, vision.projector_fc1_bias, stream);
  kernels::swiglu(mid.as<float>(), N, H, h.as<bf16>(), stream, kernels::GateActivation::kGelu, false);
  cuda::linear(cublas, h.as<bf16>(), N, H, vision.projector_fc2, H, out);
  if (vision.projector_fc2_bias) kernels::add_bias(out, N, H, vision.projector_fc2_bias, stream);
}

void CudaModel::Impl::merge_images(const PromptLayout& layout, float* x) {
  const bridge::ModelConfig& c = config;
  const int64_t per_image = c.image_tokens(), H = c.hidden_size;
  for (int b = 0; b < layout.batch(); ++b) {
    const std::vector<Image> none;
    const std::vector<Image>& images = static_cast<size_t>(b) < layout.images.size() ? layout.images[b] : none;
    const int64_t first = layout.offsets[static_cast<size_t>(b)], length = layout.lengths[static_cast<size_t>(b)];
    int64_t slots = 0;
    for (int64_t r = first; r < first + length; ++r) slots += layout.ids[static_cast<size_t>(r)] == c.image_token_index;
    if (slots == 0 && images.empty()) continue;
    if (slots != static_cast<int64_t>(images.size()) * per_image)
      fail(Status::kInvalidArgument, "prompt ", b, " has ", slots, " image tokens (id ", c.image_token_index, ") for ",
           images.size(), " image(s) of ", per_image, " each");
    cuda::PoolBuffer features = pool->allocate_n<float>(static_cast<size_t>(per_image * H), "image features");
    int64_t next = 0;
    for (int64_t r = first; r < first + length; ++r) {
      if (layout.ids[static_cast<size_t>(r)] != c.image_token_index) continue;
      if (next % per_image == 0) image_features(images[static_cast<size_t>(next / per_image)], features.as<float>());
      check(cudaMemcpyAsync(x + r * H, features.as<float>() + (next % per_image) * H, H * sizeof(float),
                            cudaMemcpyDeviceToDevice, stream),
            "placing image features");
      ++next;
    }
  }
}

}  // namespace mb::engine
