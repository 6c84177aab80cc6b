#include "bridge/hf_writer.h"

#include "bridge/hf_mapping.h"
#include "core/byte_sink.h"
#include "core/error.h"
#include "core/paths.h"

namespace mb::bridge {

HfWriter::HfWriter(std::string dir, const Family& family, const ModelConfig& config, int64_t vocab_rows,
                   const std::function<DType(const ParamInfo&)>& dtype_of, const HfTarget& target,
                   std::string config_text, std::vector<std::string> assets)
    : dir_(std::move(dir)), family_(family), config_(config), target_(target), config_text_(std::move(config_text)),
      assets_(std::move(assets)) {
  if (path_exists(dir_)) fail(Status::kInvalidArgument, dir_, ": already exists; choose a new output folder");
  std::vector<SafetensorsSpec> specs;
  for (const ParamInfo& p : model_params(config_, vocab_rows)) {
    const DType dt = target_.dtype ? *target_.dtype : dtype_of(p);
    for (const HfTensorSpec& s : hf_tensor_specs(family_, config_, p)) specs.push_back({s.name, dt, s.shape});
  }
  writer_ = std::make_unique<SafetensorsFolderWriter>(dir_, std::move(specs), target_.shards);
}

HfWriter::~HfWriter() {
  if (!finished_) {
    writer_.reset();
    remove_tree(dir_);
  }
}

void HfWriter::write(const ParamInfo& info, const Tensor& full) {
  const HfMapping& m = mapping_for(family_, info.key.kind);
  std::vector<std::string> names = hf_names(family_, config_, info.key);
  std::vector<Tensor> parts = megatron_to_hf(m, config_, info, full);
  for (size_t i = 0; i < parts.size(); ++i)
    writer_->write(names[i], target_.dtype ? parts[i].to(*target_.dtype) : parts[i]);
}

std::vector<std::string> HfWriter::finish() {
  std::vector<std::string> files = writer_->finish(target_.fsync);
  std::string config = config_text_.empty() ? json::dump(family_.hf_config_for(config_), 2) + "\n" : config_text_;
  write_file_atomic(join_path(dir_, "config.json"), config);
  files.push_back("config.json");
  for (const std::string& a : assets_) {
    write_file_atomic(join_path(dir_, file_name(a)), read_text_file(a, size_t(1) << 30));
    files.push_back(file_name(a));
  }
  finished_ = true;
  return files;
}

}  // namespace mb::bridge
