#include "bridge/export_stream.h"

#include "bridge/hf_mapping.h"
#include "bridge/megatron_names.h"

namespace mb::bridge {

ExportStream::ExportStream(const ParamSource& source, ExportTarget target, MegatronSpec spec)
    : source_(source), target_(target), spec_(spec) {}

bool ExportStream::next(std::string& name, Tensor& tensor) {
  while (pending_at_ >= pending_.size()) {
    if (param_ >= source_.params().size()) {
      if (param_ == source_.params().size()) {
        source_.finish();
        ++param_;
      }
      return false;
    }
    const ParamInfo& p = source_.params()[param_++];
    Tensor full = source_.read(p);
    pending_.clear();
    pending_at_ = 0;
    const ModelConfig& c = source_.config();
    if (target_ == ExportTarget::kHuggingFace) {
      std::vector<std::string> names = hf_names(source_.family(), c, p.key);
      std::vector<Tensor> parts = megatron_to_hf(mapping_for(source_.family(), p.key.kind), c, p, full);
      for (size_t i = 0; i < parts.size(); ++i) pending_.emplace_back(names[i], parts[i].contiguous());
    } else if (p.key.kind != ParamKind::kCarried) {  // (a Hugging Face tensor Megatron has no name for)
      pending_.emplace_back(legacy_param_key(c, p.key.kind, p.key.layer, p.key.layer, p.key.expert, spec_), full.contiguous());
    }
  }
  name = pending_[pending_at_].first;
  tensor = pending_[pending_at_].second;
  ++pending_at_;
  return true;
}

}  // namespace mb::bridge
