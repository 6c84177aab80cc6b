// One converted tensor at a time, in either direction, for hosts that ship weights elsewhere (another
// process, a trainer, an inference engine) without files: mb_export_begin / mb_export_next.
//   Hugging Face target: the model's Hugging Face tensors (q/k/v and gate/up taken apart, vocabulary padding
//                        dropped), named as in a Hugging Face checkpoint;
//   Megatron target:     full Megatron parameters (no tensor-parallel split), named as a TP1 PP1 legacy
//                        checkpoint names them ("decoder.layers.3.self_attention.linear_qkv.weight").
// Order: embedding, then layer by layer (expert by expert), then final norm and output layer.
#pragma once

#include <string>
#include <vector>

#include "bridge/param_source.h"

namespace mb::bridge {

enum class ExportTarget { kHuggingFace, kMegatron };

class ExportStream {
 public:
  ExportStream(const ParamSource& source, ExportTarget target, MegatronSpec spec = MegatronSpec::kTransformerEngine);
  // The next tensor; false when there is none left.
  bool next(std::string& name, Tensor& tensor);
  size_t total_params() const { return source_.params().size(); }

 private:
  const ParamSource& source_;
  ExportTarget target_;
  MegatronSpec spec_;
  size_t param_ = 0;
  std::vector<std::pair<std::string, Tensor>> pending_;  // parts of the current parameter not yet handed out
  size_t pending_at_ = 0;
};

}  // namespace mb::bridge
