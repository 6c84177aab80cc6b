#include "bridge/hf_mapping.h"

#include "core/error.h"

namespace mb::bridge {

const HfMapping& mapping_for(const Family& family, ParamKind kind) {
  for (const HfMapping& m : family.mappings)
    if (m.kind == kind) return m;
  fail(Status::kInternal, "family ", family.name, " has no rule for the Megatron parameter ", kind_name(kind));
}

std::string expand_pattern(const std::string& pattern, int layer, int expert, int64_t num_layers) {
  std::string out;
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern.compare(i, 7, "{layer}") == 0) {
      out += std::to_string(layer);
      i += 7;
    } else if (pattern.compare(i, 9, "{layer-1}") == 0) {
      out += std::to_string(layer - 1);
      i += 9;
    } else if (pattern.compare(i, 12, "{last_layer}") == 0) {
      out += std::to_string(num_layers - 1);
      i += 12;
    } else if (pattern.compare(i, 8, "{expert}") == 0) {
      out += std::to_string(expert);
      i += 8;
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

std::vector<std::string> hf_names(const Family& family, const ModelConfig& c, const ParamKey& key) {
  if (key.kind == ParamKind::kCarried) return {c.carried.at(static_cast<size_t>(key.layer)).name};
  if (key.kind == ParamKind::kVerbatim) return {c.verbatim.at(static_cast<size_t>(key.layer)).name};
  const HfMapping& m = mapping_for(family, key.kind);
  std::vector<std::string> names;
  for (const std::string& p : key.layer == 0 && !m.hf_layer0.empty() ? m.hf_layer0 : m.hf)
    names.push_back(expand_pattern(p, key.layer, key.expert, c.num_layers));
  return names;
}

namespace {

// Rows of one part in the interleaved q/k/v layout: per group g, n query heads, then one k and one v head.
struct QkvLayout {
  int64_t groups, per_group, head_dim;
  QkvLayout(const ModelConfig& c)
      : groups(c.num_query_groups), per_group(c.num_attention_heads / c.num_query_groups), head_dim(c.kv_channels) {}
};

void expect_shape(const Tensor& t, const Dims& shape, const std::string& name) {
  if (t.shape() != shape)
    fail(Status::kFormat, "tensor '", name, "' is ", t.describe(), " but the config implies ", shape.to_string());
}

// The config whose heads a parameter's q/k/v layout follows: LLaVA's vision tower for its own layers.
const ModelConfig& layout_config(const ModelConfig& c, ParamKind kind) {
  return is_vision(kind) && c.vision ? *c.vision : c;
}

Dims squeezed(const Dims& shape) {
  Dims out;
  int i = 0;
  while (i + 1 < shape.size() && shape[i] == 1) ++i;
  for (; i < shape.size(); ++i) out.push_back(shape[i]);
  return out;
}

Dims with_rows(Dims shape, int64_t rows) {
  shape[0] = rows;
  return shape;
}


// A Conv1D weight [in, out] as a linear layer's [out, in] (1-d tensors, biases, stay as they are).
Tensor conv1d_to_linear(const Tensor& t) { return t.ndim() == 2 ? t.transpose(0, 1).contiguous() : t; }

// The stored shape of a Conv1D tensor whose linear-layer shape is `shape`.
Dims conv1d_shape(const Dims& shape) { return shape.size() == 2 ? Dims{shape[1], shape[0]} : shape; }

// [q; k; v] rows (heads in order) -> Megatron's per-group interleave, and back
Tensor interleave_qkv(const ModelConfig& c, const Tensor& q, const Tensor& k, const Tensor& v) {
  QkvLayout L(c);
  std::vector<Tensor> pieces;
  for (int64_t g = 0; g < L.groups; ++g) {
    pieces.push_back(q.narrow(0, g * L.per_group * L.head_dim, L.per_group * L.head_dim));
    pieces.push_back(k.narrow(0, g * L.head_dim, L.head_dim));
    pieces.push_back(v.narrow(0, g * L.head_dim, L.head_dim));
  }
  return Tensor::cat(pieces, 0);
}

std::vector<Tensor> deinterleave_qkv(const ModelConfig& c, const Tensor& param) {
  QkvLayout L(c);
  std::vector<Tensor> q, k, v;
  const int64_t stride = (L.per_group + 2) * L.head_dim;
  for (int64_t g = 0; g < L.groups; ++g) {
    q.push_back(param.narrow(0, g * stride, L.per_group * L.head_dim));
    k.push_back(param.narrow(0, g * stride + L.per_group * L.head_dim, L.head_dim));
    v.push_back(param.narrow(0, g * stride + (L.per_group + 1) * L.head_dim, L.head_dim));
  }
  return {Tensor::cat(q, 0), Tensor::cat(k, 0), Tensor::cat(v, 0)};
}

}  // namespace

Tensor hf_to_megatron(const HfMapping& m, const ModelConfig& model, const ParamInfo& info,
                      const std::vector<Tensor>& parts, const std::vector<std::string>& names) {
  const ModelConfig& c = layout_config(model, info.key.kind);
  const DType dtype = parts.at(0).dtype();
  for (size_t i = 1; i < parts.size(); ++i)
    if (parts[i].dtype() != dtype)
      fail(Status::kFormat, "tensors '", names[0], "' and '", names[i], "' differ in dtype (",
           dtype_name(dtype), " vs ", dtype_name(parts[i].dtype()), ")");
  switch (m.rule) {
    case HfRule::kDirect: {
      const Tensor& t = parts[0];
      if (is_vocab(info.key.kind)) {
        expect_shape(t, with_rows(info.shape, c.vocab_size), names[0]);
        if (info.shape[0] == c.vocab_size) return t;
        Tensor padded = Tensor::zeros(dtype, info.shape);
        padded.narrow(0, 0, c.vocab_size).copy_from(t);
        return padded;
      }
      expect_shape(t, info.shape, names[0]);
      return t;
    }
    case HfRule::kQkv: {
      expect_shape(parts[0], with_rows(info.shape, c.q_rows()), names[0]);
      expect_shape(parts[1], with_rows(info.shape, c.kv_rows()), names[1]);
      expect_shape(parts[2], with_rows(info.shape, c.kv_rows()), names[2]);
      return interleave_qkv(c, parts[0], parts[1], parts[2]);
    }
    case HfRule::kGated:
      return Tensor::cat(hf_to_megatron_blocks(m, c, info, parts, names), 0);
    case HfRule::kTransposed:
      expect_shape(parts[0], conv1d_shape(info.shape), names[0]);
      return conv1d_to_linear(parts[0]);
    case HfRule::kQkvFused: {
      expect_shape(parts[0], conv1d_shape(info.shape), names[0]);
      const Tensor t = conv1d_to_linear(parts[0]);
      return interleave_qkv(c, t.narrow(0, 0, c.q_rows()), t.narrow(0, c.q_rows(), c.kv_rows()),
                            t.narrow(0, c.q_rows() + c.kv_rows(), c.kv_rows()));
    }
    case HfRule::kSqueezed:
      expect_shape(parts[0], squeezed(info.shape), names[0]);
      return parts[0].reshape(info.shape);
  }
  fail(Status::kInternal, "unknown mapping rule");
}

std::vector<Tensor> hf_to_megatron_blocks(const HfMapping& m, const ModelConfig& c, const ParamInfo& info,
                                          const std::vector<Tensor>& parts, const std::vector<std::string>& names) {
  if (m.rule != HfRule::kGated) return {hf_to_megatron(m, c, info, parts, names)};
  if (parts.at(0).dtype() != parts.at(1).dtype())
    fail(Status::kFormat, "tensors '", names[0], "' and '", names[1], "' differ in dtype (",
         dtype_name(parts[0].dtype()), " vs ", dtype_name(parts[1].dtype()), ")");
  Dims half = with_rows(info.shape, info.shape[0] / 2);
  expect_shape(parts[0], half, names[0]);
  expect_shape(parts[1], half, names[1]);
  return {parts[0], parts[1]};
}

std::vector<Tensor> megatron_to_hf(const HfMapping& m, const ModelConfig& model, const ParamInfo& info,
                                   const Tensor& param) {
  const ModelConfig& c = layout_config(model, info.key.kind);
  if (param.shape() != info.shape)
    fail(Status::kFormat, describe(info.key), " is ", param.describe(), " but the config implies ",
         info.shape.to_string());
  switch (m.rule) {
    case HfRule::kDirect:
      if (is_vocab(info.key.kind) && info.shape[0] != c.vocab_size) return {param.narrow(0, 0, c.vocab_size).contiguous()};
      return {param};
    case HfRule::kQkv: return deinterleave_qkv(c, param);
    case HfRule::kGated: {
      int64_t half = info.shape[0] / 2;
      return {param.narrow(0, 0, half).contiguous(), param.narrow(0, half, half).contiguous()};
    }
    case HfRule::kTransposed: return {conv1d_to_linear(param)};  // (a transpose is its own inverse)
    case HfRule::kQkvFused: return {conv1d_to_linear(Tensor::cat(deinterleave_qkv(c, param), 0))};
    case HfRule::kSqueezed: return {param.reshape(squeezed(info.shape))};
  }
  fail(Status::kInternal, "unknown mapping rule");
}

std::vector<HfTensorSpec> hf_tensor_specs(const Family& family, const ModelConfig& model, const ParamInfo& p) {
  std::vector<std::string> names = hf_names(family, model, p.key);
  if (p.key.kind == ParamKind::kCarried || p.key.kind == ParamKind::kVerbatim) return {{names[0], p.shape}};
  const HfMapping& m = mapping_for(family, p.key.kind);
  const ModelConfig& c = layout_config(model, p.key.kind);
  switch (m.rule) {
    case HfRule::kDirect:
      return {{names[0], is_vocab(p.key.kind) ? with_rows(p.shape, c.vocab_size) : p.shape}};
    case HfRule::kQkv:
      return {{names[0], with_rows(p.shape, c.q_rows())},
              {names[1], with_rows(p.shape, c.kv_rows())},
              {names[2], with_rows(p.shape, c.kv_rows())}};
    case HfRule::kGated:
      return {{names[0], with_rows(p.shape, p.shape[0] / 2)}, {names[1], with_rows(p.shape, p.shape[0] / 2)}};
    case HfRule::kTransposed:
    case HfRule::kQkvFused: return {{names[0], conv1d_shape(p.shape)}};
    case HfRule::kSqueezed: return {{names[0], squeezed(p.shape)}};
  }
  fail(Status::kInternal, "unknown mapping rule");
}

std::vector<HfTensorSpec> hf_tensor_specs(const Family& family, const ModelConfig& c) {
  std::vector<HfTensorSpec> out;
  for (const ParamInfo& p : model_params(c, c.vocab_size))
    for (HfTensorSpec& s : hf_tensor_specs(family, c, p)) out.push_back(std::move(s));
  return out;
}

}  // namespace mb::bridge
