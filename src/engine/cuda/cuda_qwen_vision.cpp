// Qwen2.5-VL on the CUDA backend: the vision tower with the kernels the language model uses (as the CPU
// reference, cpu_qwen_vision.cpp, and with its plan, qwen_vision_plan.h): the patches in the tower's order
// multiplied by the Conv3d's weight; blocks of RMSNorm, attention and a SwiGLU MLP with biases, where attention
// runs over each window (or, on the full-attention blocks, each frame) as one sequence of a non-causal prefill,
// q and k rotated by each patch's row and column angles; the merger (RMSNorm, each unit's patches as one row,
// Linear, exact GELU, Linear) on the units put back in image order. And the multimodal rotary angles of the
// language model's prompt rows.
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/float_formats.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/cuda_model_impl.h"
#include "engine/cuda/gemm.h"

namespace mb::engine {

using cuda::check;

namespace {

constexpr float kVisionNormEpsilon = 1e-6f;  // transformers builds the tower's RMSNorms with 1e-6

const Tensor& tensor(const std::map<std::string, Tensor>& tensors, const std::string& name, int64_t numel) {
  auto it = tensors.find(name);
  if (it == tensors.end()) fail(Status::kFormat, "Qwen2.5-VL's vision tower: tensor '", name, "' missing");
  if (it->second.numel() != numel)
    fail(Status::kFormat, "Qwen2.5-VL's vision tower: tensor '", name, "' has ", it->second.numel(), " values, not ", numel);
  return it->second;
}

std::vector<uint16_t> to_bf16(const float* v, size_t n) {
  std::vector<uint16_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(v[i]);
  return out;
}

// transformers' fused qkv rows [q of every head][k ...][v ...] (each `width` values: a weight row or a bias
// value) as rope_qkv takes them: [q, k, v] of head 0, then of head 1, ...
std::vector<float> per_head_qkv(const float* v, int64_t heads, int64_t head_dim, int64_t width) {
  std::vector<float> out(static_cast<size_t>(3 * heads * head_dim * width));
  for (int64_t j = 0; j < 3; ++j)
    for (int64_t h = 0; h < heads; ++h)
      std::copy_n(v + (j * heads + h) * head_dim * width, head_dim * width,
                  out.data() + (h * 3 + j) * head_dim * width);
  return out;
}

}  // namespace

void CudaModel::Impl::load_qwen_tower(const std::map<std::string, Tensor>& tensors) {
  const QwenTowerShape& s = *qwen_tower;
  const int64_t D = s.hidden, F = s.ffn, wide = D * s.merge * s.merge;
  auto matrix = [&](const std::vector<float>& v) {
    const std::vector<uint16_t> b = to_bf16(v.data(), v.size());
    return static_cast<const bf16*>(upload(b.data(), b.size() * sizeof(uint16_t), "a vision weight"));
  };
  auto vec = [&](const std::vector<float>& v) {
    return static_cast<const float*>(upload(v.data(), v.size() * sizeof(float), "a vision weight"));
  };
  auto values = [&](const std::string& name, int64_t numel) {
    const Tensor& t = tensor(tensors, name, numel);
    const float* f = t.data_as<float>();
    return std::vector<float>(f, f + numel);
  };
  const std::string v = "visual.";
  qwen_vision.patch = matrix(values(v + "patch_embed.proj.weight", D * s.patch_values()));
  qwen_vision.blocks.resize(static_cast<size_t>(s.depth));
  for (int64_t b = 0; b < s.depth; ++b) {
    QwenVisionWeights::Block& w = qwen_vision.blocks[static_cast<size_t>(b)];
    const std::string p = v + "blocks." + std::to_string(b) + ".";
    w.norm1 = vec(values(p + "norm1.weight", D));
    w.norm2 = vec(values(p + "norm2.weight", D));
    w.qkv = matrix(per_head_qkv(values(p + "attn.qkv.weight", 3 * D * D).data(), s.heads, s.head_dim, D));
    w.qkv_bias = vec(per_head_qkv(values(p + "attn.qkv.bias", 3 * D).data(), s.heads, s.head_dim, 1));
    w.proj = matrix(values(p + "attn.proj.weight", D * D));
    w.proj_bias = vec(values(p + "attn.proj.bias", D));
    std::vector<float> gate_up = values(p + "mlp.gate_proj.weight", F * D), up = values(p + "mlp.up_proj.weight", F * D);
    gate_up.insert(gate_up.end(), up.begin(), up.end());
    w.gate_up = matrix(gate_up);
    std::vector<float> gate_up_bias = values(p + "mlp.gate_proj.bias", F), up_bias = values(p + "mlp.up_proj.bias", F);
    gate_up_bias.insert(gate_up_bias.end(), up_bias.begin(), up_bias.end());
    w.gate_up_bias = vec(gate_up_bias);
    w.down = matrix(values(p + "mlp.down_proj.weight", D * F));
    w.down_bias = vec(values(p + "mlp.down_proj.bias", D));
  }
  qwen_vision.merger_norm = vec(values(v + "merger.ln_q.weight", D));
  qwen_vision.merger_fc0 = matrix(values(v + "merger.mlp.0.weight", wide * wide));
  qwen_vision.merger_fc0_bias = vec(values(v + "merger.mlp.0.bias", wide));
  qwen_vision.merger_fc2 = matrix(values(v + "merger.mlp.2.weight", s.out * wide));
  qwen_vision.merger_fc2_bias = vec(values(v + "merger.mlp.2.bias", s.out));
  if (s.out != config.hidden_size)
    fail(Status::kFormat, "Qwen2.5-VL: the merger gives ", s.out, " values per token, the language model takes ",
         config.hidden_size);
}

void CudaModel::Impl::qwen_image_features(const Image& image, float* out) {
  const QwenTowerShape& s = *qwen_tower;
  const QwenTowerPlan plan = qwen_tower_plan(s, image);
  const int64_t N = plan.patches, U = plan.units, unit = s.merge * s.merge, D = s.hidden, F = s.ffn, dim = s.patch_values();
  const int64_t wide = D * unit;

  // on the host: the patches in the tower's order; for each attention kind, each row's sequence (window or
  // frame) and position in it, and the sequences' first rows and lengths
  std::vector<uint16_t> patches(static_cast<size_t>(N * dim));
  for (int64_t i = 0; i < U; ++i)
    for (int64_t m = 0; m < unit; ++m) {
      const float* src = &image.pixels[static_cast<size_t>((plan.order[static_cast<size_t>(i)] * unit + m) * dim)];
      for (int64_t k = 0; k < dim; ++k) patches[static_cast<size_t>((i * unit + m) * dim + k)] = f32_to_bf16(src[k]);
    }
  struct Segments {
    std::vector<int32_t> seq, pos, offsets, lengths;
    int64_t longest = 0;
  };
  auto segments = [&](const std::vector<int64_t>& bounds) {
    Segments g;
    for (size_t b = 0; b + 1 < bounds.size(); ++b) {
      g.offsets.push_back(static_cast<int32_t>(bounds[b]));
      g.lengths.push_back(static_cast<int32_t>(bounds[b + 1] - bounds[b]));
      g.longest = std::max(g.longest, bounds[b + 1] - bounds[b]);
      for (int64_t r = bounds[b]; r < bounds[b + 1]; ++r) {
        g.seq.push_back(static_cast<int32_t>(b));
        g.pos.push_back(static_cast<int32_t>(r - bounds[b]));
      }
    }
    return g;
  };
  const Segments windows = segments(plan.windows), frames = segments(plan.frames);
  std::vector<int32_t> image_order(static_cast<size_t>(U));  // unit u of the image is row image_order[u] of the tower's
  for (int64_t i = 0; i < U; ++i) image_order[static_cast<size_t>(plan.order[static_cast<size_t>(i)])] = static_cast<int32_t>(i);
  const int64_t cache_rows = std::max(static_cast<int64_t>(windows.lengths.size()) * windows.longest,
                                      static_cast<int64_t>(frames.lengths.size()) * frames.longest);

  auto h2d = [&](cuda::PoolBuffer& dst, const void* src, size_t bytes) {
    check(cudaMemcpyAsync(dst.as<void>(), src, bytes, cudaMemcpyHostToDevice, stream), "uploading an image");
  };
  auto ints = [&](const std::vector<int32_t>& v, const char* what) {
    cuda::PoolBuffer b = pool->allocate_n<int32_t>(v.size(), what);
    h2d(b, v.data(), v.size() * sizeof(int32_t));
    return b;
  };
  cuda::PoolBuffer patches_dev = pool->allocate_n<bf16>(patches.size(), "image patches");
  h2d(patches_dev, patches.data(), patches.size() * sizeof(uint16_t));
  cuda::PoolBuffer angles = pool->allocate_n<float>(plan.angles.size(), "patch angles");
  h2d(angles, plan.angles.data(), plan.angles.size() * sizeof(float));
  struct DeviceSegments {
    cuda::PoolBuffer seq, pos, plan;  // plan: the first rows, then the lengths
  };
  auto upload_segments = [&](const Segments& g) {
    std::vector<int32_t> plan = g.offsets;
    plan.insert(plan.end(), g.lengths.begin(), g.lengths.end());
    return DeviceSegments{ints(g.seq, "segment rows"), ints(g.pos, "segment rows"), ints(plan, "segments")};
  };
  const DeviceSegments window_dev = upload_segments(windows), frame_dev = upload_segments(frames);
  cuda::PoolBuffer unit_rows = ints(image_order, "image order");
  // (pageable host memory is staged before cudaMemcpyAsync returns, so the vectors may go)

  const size_t n = static_cast<size_t>(N);
  cuda::PoolBuffer x = pool->allocate_n<float>(n * D, "vision residual stream");
  cuda::PoolBuffer h = pool->allocate_n<bf16>(n * std::max(D, F), "vision activations");
  cuda::PoolBuffer qkv = pool->allocate_n<float>(n * 3 * D, "vision q, k, v");
  cuda::PoolBuffer q = pool->allocate_n<bf16>(n * D, "vision queries");
  cuda::PoolBuffer k = pool->allocate_n<bf16>(static_cast<size_t>(cache_rows * D), "vision keys");
  cuda::PoolBuffer val = pool->allocate_n<bf16>(static_cast<size_t>(cache_rows * D), "vision values");
  cuda::PoolBuffer attn = pool->allocate_n<bf16>(n * D, "vision attention");
  cuda::PoolBuffer delta = pool->allocate_n<float>(n * D, "vision branch output");
  cuda::PoolBuffer mid = pool->allocate_n<float>(n * std::max(2 * F, D), "vision MLP");

  float* xs = x.as<float>();
  cuda::linear(cublas, patches_dev.as<bf16>(), N, dim, qwen_vision.patch, D, xs);
  kernels::QkvShape shape{static_cast<int>(s.heads), static_cast<int>(s.heads), static_cast<int>(s.head_dim)};
  shape.causal = false;
  for (int64_t b = 0; b < s.depth; ++b) {
    const QwenVisionWeights::Block& w = qwen_vision.blocks[static_cast<size_t>(b)];
    const bool full = s.full_attention[static_cast<size_t>(b)];
    const Segments& g = full ? frames : windows;
    const DeviceSegments& dev = full ? frame_dev : window_dev;
    const int32_t *seq = dev.seq.as<int32_t>(), *pos = dev.pos.as<int32_t>(), *offsets = dev.plan.as<int32_t>();
    const int batch = static_cast<int>(g.lengths.size());
    // the previous block's MLP output joins the stream as this block's norm reads it
    kernels::add_rms_norm(xs, b ? delta.as<float>() : nullptr, 1.f, w.norm1, N, D, kVisionNormEpsilon, 1.f, h.as<bf16>(),
                          stream);
    cuda::linear(cublas, h.as<bf16>(), N, D, w.qkv, 3 * D, qkv.as<float>());
    kernels::rope_qkv(qkv.as<float>(), N, shape, w.qkv_bias, nullptr, nullptr, kVisionNormEpsilon, nullptr, seq, pos,
                      q.as<bf16>(), k.as<bf16>(), val.as<bf16>(), g.longest, stream, angles.as<float>());
    kernels::attention_prefill(q.as<bf16>(), k.as<bf16>(), val.as<bf16>(), offsets, offsets + batch, batch,
                               static_cast<int>(g.longest), shape, g.longest, attn.as<bf16>(), stream);
    cuda::linear(cublas, attn.as<bf16>(), N, D, w.proj, D, delta.as<float>());
    kernels::add_bias(delta.as<float>(), N, D, w.proj_bias, stream);
    kernels::add_rms_norm(xs, delta.as<float>(), 1.f, w.norm2, N, D, kVisionNormEpsilon, 1.f, h.as<bf16>(), stream);
    cuda::linear(cublas, h.as<bf16>(), N, D, w.gate_up, 2 * F, mid.as<float>());
    kernels::add_bias(mid.as<float>(), N, 2 * F, w.gate_up_bias, stream);
    kernels::swiglu(mid.as<float>(), N, F, h.as<bf16>(), stream, kernels::GateActivation::kSilu, true);
    cuda::linear(cublas, h.as<bf16>(), N, F, w.down, D, delta.as<float>());
    kernels::add_bias(delta.as<float>(), N, D, w.down_bias, stream);
  }
  // the merger: the last MLP output joins the stream as the merger's norm reads it; the units (merge x merge
  // normalised patches as one row) back in image order, then Linear, GELU, Linear
  kernels::add_rms_norm(xs, s.depth ? delta.as<float>() : nullptr, 1.f, qwen_vision.merger_norm, N, D,
                        kVisionNormEpsilon, 1.f, h.as<bf16>(), stream);
  cuda::PoolBuffer units = pool->allocate_n<bf16>(static_cast<size_t>(U * wide), "merger input");
  kernels::gather_rows(h.as<bf16>(), unit_rows.as<int32_t>(), U, wide, units.as<bf16>(), stream);
  cuda::PoolBuffer merged = pool->allocate_n<float>(static_cast<size_t>(U * wide), "merger");
  cuda::linear(cublas, units.as<bf16>(), U, wide, qwen_vision.merger_fc0, wide, merged.as<float>());
  kernels::add_bias(merged.as<float>(), U, wide, qwen_vision.merger_fc0_bias, stream);
  kernels::swiglu(merged.as<float>(), U, wide, units.as<bf16>(), stream, kernels::GateActivation::kGelu, false);
  cuda::linear(cublas, units.as<bf16>(), U, wide, qwen_vision.merger_fc2, s.out, out);
  kernels::add_bias(out, U, s.out, qwen_vision.merger_fc2_bias, stream);
}

void CudaModel::Impl::merge_qwen_images(const PromptLayout& layout, float* x) {
  const bridge::ModelConfig& c = config;
  const int64_t H = c.hidden_size, merge = qwen_tower->merge;
  for (int b = 0; b < layout.batch(); ++b) {
    const std::vector<Image> none;
    const std::vector<Image>& images = static_cast<size_t>(b) < layout.images.size() ? layout.images[b] : none;
    const int64_t first = layout.offsets[static_cast<size_t>(b)], length = layout.lengths[static_cast<size_t>(b)];
    check_qwen_image_tokens(c, merge, &layout.ids[static_cast<size_t>(first)], static_cast<size_t>(length), &images,
                            cat("prompt ", b));
    // each image's features, then placed run by run of consecutive image tokens
    size_t image = 0;
    int64_t next = 0, count = 0;
    cuda::PoolBuffer features;
    for (int64_t r = first; r < first + length;) {
      if (layout.ids[static_cast<size_t>(r)] != c.image_token_index) {
        ++r;
        continue;
      }
      if (next == count) {
        const Image& im = images[image++];
        count = qwen_image_tokens(im, merge);
        features = pool->allocate_n<float>(static_cast<size_t>(count * H), "image features");
        qwen_image_features(im, features.as<float>());
        next = 0;
      }
      int64_t run = 0;
      while (r + run < first + length && next + run < count &&
             layout.ids[static_cast<size_t>(r + run)] == c.image_token_index)
        ++run;
      check(cudaMemcpyAsync(x + r * H, features.as<float>() + next * H, static_cast<size_t>(run * H) * sizeof(float),
                            cudaMemcpyDeviceToDevice, stream),
            "placing image features");
      r += run;
      next += run;
    }
  }
}

std::vector<float> CudaModel::Impl::mrope_angles(const PromptLayout& layout, std::vector<int32_t>* rotary_offsets) const {
  const bridge::ModelConfig& c = config;
  const int64_t half = static_cast<int64_t>(inv_freq_host.size()), merge = qwen_tower ? qwen_tower->merge : 1;
  const std::vector<int64_t>& section = c.mrope_section;
  std::vector<float> angles(static_cast<size_t>(layout.rows() * half));
  if (rotary_offsets) rotary_offsets->clear();
  for (int b = 0; b < layout.batch(); ++b) {
    const int64_t first = layout.offsets[static_cast<size_t>(b)], length = layout.lengths[static_cast<size_t>(b)];
    const std::vector<int32_t> ids(layout.ids.begin() + first, layout.ids.begin() + first + length);
    const std::vector<Image>* images = static_cast<size_t>(b) < layout.images.size() ? &layout.images[b] : nullptr;
    int64_t delta = 0;
    const auto positions = qwen_mrope_positions(c, merge, ids, images, 0, &delta);
    for (int64_t t = 0; t < length; ++t)
      for (int64_t i = 0; i < half; ++i) {
        const int axis = i < section[0] ? 0 : i < section[0] + section[1] ? 1 : 2;
        angles[static_cast<size_t>((first + t) * half + i)] =
            static_cast<float>(positions[static_cast<size_t>(t)][static_cast<size_t>(axis)]) * inv_freq_host[static_cast<size_t>(i)];
      }
    if (rotary_offsets) rotary_offsets->push_back(static_cast<int32_t>(delta));
  }
  return angles;
}

}  // namespace mb::engine
