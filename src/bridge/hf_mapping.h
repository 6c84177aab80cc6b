// Hugging Face tensors <-> Megatron parameters, by a family's rules: which tensor names make a parameter,
// how q/k/v interleave per query group, how gate and up stack, how the vocabulary is padded.
#pragma once

#include <string>
#include <vector>

#include "bridge/family.h"
#include "core/tensor.h"

namespace mb::bridge {

const HfMapping& mapping_for(const Family& family, ParamKind kind);
// {layer}, {expert}, {layer-1} and {last_layer} (num_layers - 1) replaced by the numbers.
std::string expand_pattern(const std::string& pattern, int layer, int expert, int64_t num_layers = 0);
// The Hugging Face names of one parameter, in the rule's order (q, k, v / gate, up / the one tensor).
std::vector<std::string> hf_names(const Family& family, const ModelConfig& c, const ParamKey& key);

// Hugging Face parts -> the Megatron parameter described by `info` (shapes are checked; the embedding and
// output layer are padded with zero rows up to info.shape[0]).
Tensor hf_to_megatron(const HfMapping& m, const ModelConfig& c, const ParamInfo& info, const std::vector<Tensor>& parts,
                      const std::vector<std::string>& names);
// The same parameter as blocks of rows whose concatenation along dim 0 is what hf_to_megatron returns, left
// unconcatenated where the rule allows (gate and up, which are views of the mapped files): a writer can store
// them without assembling the parameter in memory. Other rules give the one assembled tensor.
std::vector<Tensor> hf_to_megatron_blocks(const HfMapping& m, const ModelConfig& c, const ParamInfo& info,
                                          const std::vector<Tensor>& parts, const std::vector<std::string>& names);
// The Megatron parameter -> its Hugging Face parts (padding rows dropped), in the rule's order.
std::vector<Tensor> megatron_to_hf(const HfMapping& m, const ModelConfig& c, const ParamInfo& info, const Tensor& param);

struct HfTensorSpec {
  std::string name;
  Dims shape;
};
// The Hugging Face tensors of one parameter, and of the whole model (in Megatron parameter order).
std::vector<HfTensorSpec> hf_tensor_specs(const Family& family, const ModelConfig& c, const ParamInfo& p);
std::vector<HfTensorSpec> hf_tensor_specs(const Family& family, const ModelConfig& c);

}  // namespace mb::bridge
