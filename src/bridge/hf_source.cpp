// Full Megatron parameters from a Hugging Face folder.
#include <algorithm>
#include <mutex>
#include <optional>
#include <set>

#include "bridge/fp8_weights.h"
#include "bridge/hf_mapping.h"
#include "bridge/param_source.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/log.h"
#include "core/paths.h"
#include "io/bundle_reader.h"
#include "io/safetensors_sharded.h"

namespace mb::bridge {

void ParamSource::set_config(ModelConfig c, int64_t vocab_rows) {
  config_ = std::move(c);
  family_ = find_family(config_.family);
  if (!family_) fail(Status::kInternal, "no family '", config_.family, "'");
  vocab_rows_ = vocab_rows;
  params_ = model_params(config_, vocab_rows_);
}

void ParamSource::check_slice(const ParamInfo& p, int dim, int64_t first, int64_t count) const {
  if (dim < 0 || dim >= p.shape.size() || first < 0 || count < 0 || count > p.shape[dim] - first)
    fail(Status::kInvalidArgument, path_, ": slice [", first, ", +", count, ") of dimension ", dim, " of ", describe(p.key),
         " ", p.shape.to_string());
}

Tensor ParamSource::read_slice(const ParamInfo& p, int dim, int64_t first, int64_t count) const {
  check_slice(p, dim, first, count);
  return read(p).narrow(dim, first, count);
}

bool is_hf_folder(const std::string& path) {
  return is_directory(path) && is_regular_file(join_path(path, "config.json")) &&
         (is_regular_file(join_path(path, kSafetensorsIndexName)) ||
          is_regular_file(join_path(path, kSafetensorsSingleName)));
}

namespace {

// Files a Hugging Face folder carries besides weights and config.json, copied through conversions.
bool is_asset(const std::string& name) {
  static const char* kNames[] = {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                 "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt",
                                 "added_tokens.json", "chat_template.jinja", "chat_template.json",
                                 "preprocessor_config.json", "processor_config.json"};
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

class HfSource : public ParamSource {
 public:
  HfSource(const std::string& dir, const HfSourceOptions& options) : options_(options) {
    path_ = dir;
    if (!is_hf_folder(dir))
      fail(Status::kNotFound, dir, ": not a Hugging Face model folder (config.json and safetensors weights)");
    const std::string config_path = join_path(dir, "config.json");
    config_text_ = read_text_file(config_path);
    const json::Value config_json = json::parse(config_text_, config_path);
    fp8_ = fp8_block_quantization(config_json, config_path);
    if (fp8_) config_text_ = config_without_quantization(config_text_, config_path);  // read as bf16 from here on
    HfConfig hf = parse_hf_config(config_json, config_path);
    ModelConfig c = model_config_from_hf(hf);
    const int64_t vocab = c.vocab_size;
    set_config(std::move(c), vocab);
    folder_ = SafetensorsFolder::open(dir);
    assets_ = hf_asset_files(dir);
  }

  const char* kind() const override { return "hf"; }

  DType dtype(const ParamInfo& p) const override {
    std::string name = hf_names(*family_, config_, p.key).at(0);
    auto r = find(name);
    if (!r.file) missing(name, p);
    return fp8_ && r.entry->dtype == DType::F8_E4M3 ? DType::BF16 : r.entry->dtype;
  }

  Tensor read(const ParamInfo& p) const override {
    std::vector<std::string> names;
    std::vector<Tensor> parts = hf_parts(p, &names);
    try {
      return hf_to_megatron(mapping_for(*family_, p.key.kind), config_, p, parts, names);
    } catch (const Error& e) {
      fail(e.status(), path_, ": ", e.message());
    }
  }

  std::vector<Tensor> read_row_blocks(const ParamInfo& p) const override {
    std::vector<std::string> names;
    std::vector<Tensor> parts = hf_parts(p, &names);
    try {
      return hf_to_megatron_blocks(mapping_for(*family_, p.key.kind), config_, p, parts, names);
    } catch (const Error& e) {
      fail(e.status(), path_, ": ", e.message());
    }
  }

  void prefetch(const ParamInfo& p) const override {
    for (const std::string& name : hf_names(*family_, config_, p.key)) {
      auto r = find(name);
      if (r.file) r.file->prefetch(*r.entry);
    }
  }

  void finish() const override {
    std::set<std::string> ignored;
    for (const std::string& pattern : family_->ignored)
      for (int l = 0; l < config_.num_layers; ++l) ignored.insert(expand_pattern(pattern, l, -1));
    std::vector<std::string> unused;
    for (const std::string& name : folder_->names())
      if (!used_.count(name) && !ignored.count(name)) unused.push_back(name);
    // A tied model may still store lm_head.weight (a copy of the embeddings).
    if (config_.tied_embeddings)
      unused.erase(std::remove(unused.begin(), unused.end(), std::string("lm_head.weight")), unused.end());
    if (unused.empty()) return;
    std::string list;
    for (size_t i = 0; i < unused.size() && i < 5; ++i) list += (i ? ", " : "") + unused[i];
    if (unused.size() > 5) list += cat(" and ", unused.size() - 5, " more");
    if (!options_.allow_unused)
      fail(Status::kFormat, path_, ": ", unused.size(), " tensor(s) that no ", family_->name,
           " parameter uses: ", list, " (a different model variant? --allow-unused skips them)");
    log_warning(cat(path_, ": skipped ", unused.size(), " unused tensor(s): ", list));
  }

  std::vector<std::string> assets() const override { return assets_; }
  void drop_pages() const override {
    for (const auto& f : folder_->files()) f->drop_pages();
  }
  std::string hf_config_text() const override { return config_text_; }

 private:
  // The Hugging Face tensors of p (views of the mapped files), in the rule's order; marks them used.
  std::vector<Tensor> hf_parts(const ParamInfo& p, std::vector<std::string>* names) const {
    *names = hf_names(*family_, config_, p.key);
    std::vector<Tensor> parts;
    for (const std::string& name : *names) {
      auto r = find(name);
      if (!r.file) missing(name, p);
      parts.push_back(r.file->tensor(*r.entry));
      std::lock_guard<std::mutex> lock(mutex_);
      used_.insert(r.entry->name);
      if (fp8_ && r.entry->dtype == DType::F8_E4M3) {  // block-quantized: dequantized with its scales
        const std::string scale_name = fp8_scale_name(r.entry->name);
        auto scale = folder_->find(scale_name);
        if (!scale.file)
          fail(Status::kNotFound, path_, ": tensor '", scale_name, "' (the scales of FP8 '", r.entry->name, "') is missing");
        parts.back() = dequantize_fp8_blocks(parts.back(), scale.file->tensor(*scale.entry), *fp8_, path_ + ": " + r.entry->name);
        used_.insert(scale_name);
      }
    }
    return parts;
  }

  // A tensor by the name the family writes, else by another spelling it accepts (Family::alternative_prefixes).
  SafetensorsFolder::Ref find(const std::string& name) const {
    auto r = folder_->find(name);
    for (const auto& [written, other] : family_->alternative_prefixes) {
      if (r.file) break;
      if (name.compare(0, written.size(), written) == 0) r = folder_->find(other + name.substr(written.size()));
    }
    return r;
  }

  [[noreturn]] void missing(const std::string& name, const ParamInfo& p) const {
    fail(Status::kNotFound, path_, ": tensor '", name, "' (", describe(p.key), " of a ", family_->name,
         " model) is missing");
  }

  HfSourceOptions options_;
  std::string config_text_;
  std::optional<Fp8Blocks> fp8_;  // block-wise FP8 weights (DeepSeek-V3's release), read as bf16
  std::shared_ptr<SafetensorsFolder> folder_;
  std::vector<std::string> assets_;
  mutable std::mutex mutex_;
  mutable std::set<std::string> used_;
};

}  // namespace

std::unique_ptr<ParamSource> open_hf_source(const std::string& dir, const HfSourceOptions& options) {
  auto mount = mount_if_bundle(dir);  // a bundle is read in place, as the folder it holds
  auto source = std::make_unique<HfSource>(dir, options);
  source->keep_alive(std::move(mount));
  return source;
}

std::unique_ptr<ParamSource> open_param_source(const std::string& path, const MegatronSourceOptions& options) {
  auto mount = mount_if_bundle(path);
  if (is_hf_folder(path)) return open_hf_source(path);
  return open_megatron_source(path, options);
}

std::vector<std::string> hf_asset_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& name : list_directory(dir))
    if (is_asset(name) && is_regular_file(join_path(dir, name))) out.push_back(join_path(dir, name));
  return out;
}

}  // namespace mb::bridge
