// C ABI: mb_bridge (a model opened for conversion), mb_export (streaming), the one-call conversions.
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "api/api_bridge_handle.h"
#include "api/api_guard.h"
#include "bridge/bridge_info.h"
#include "bridge/convert.h"
#include "bridge/export_stream.h"
#include "bridge/registry.h"
#include "hub/model_path.h"
#include "io/tensor_frame.h"
#include "mbridge.h"

struct mb_export {
  mb_bridge* bridge = nullptr;
  std::unique_ptr<mb::bridge::ExportStream> stream;
  std::string error;
  std::string name;
  mb::Tensor tensor;
  mb_status failed = MB_OK;  // a stream that failed stays failed: it has already moved past the parameter
  std::string failure;
  mb::TensorFrameOptions frame_options;
  std::vector<uint8_t> frame;  // the current tensor as a tensor frame (mb_export_next_frame)
};

namespace {

thread_local std::string t_scratch;  // strings handed out "until the next call on this thread"

std::string str(const char* s) { return s ? s : ""; }

mb::ProgressFn progress_of(mb_progress_fn fn, void* user) {
  if (!fn) return {};
  return [fn, user](const std::string& stage, uint64_t done, uint64_t total) {
    return fn(stage.c_str(), done, total, user) == 0;
  };
}

mb::ProgressFn progress_of(const mb_convert_options& o) { return progress_of(o.progress, o.user_data); }

// A local path stays as it is; a Hugging Face Hub id (org/name[@revision]) becomes its snapshot folder in
// the cache, downloaded when missing (hub/model_path.h).
std::string model_path(const char* path_or_id, mb::hub::Need need, const mb::ProgressFn& progress = {}) {
  return mb::hub::local_model_path(path_or_id, need, progress);
}

// The config describing a Megatron checkpoint: a config.json, its folder, or a Hub id (config files only).
mb::bridge::MegatronSourceOptions source_options(const char* hf_model, const char* family,
                                                 const mb::ProgressFn& progress = {}) {
  mb::bridge::MegatronSourceOptions o;
  o.hf_model = hf_model && *hf_model ? model_path(hf_model, mb::hub::Need::kConfig, progress) : "";
  o.family = str(family);
  return o;
}

mb_convert_options options_or_default(const mb_convert_options* o) {
  mb::api::check_struct_size(o, sizeof(mb_convert_options), "mb_convert_options");
  return o ? *o : mb_convert_default_options();
}

std::optional<mb::DType> dtype_of(const mb_convert_options& o) {
  if (o.dtype == MB_DTYPE_KEEP) return std::nullopt;
  if (o.dtype < 0 || o.dtype >= mb::kNumDTypes) mb::fail(mb::Status::kInvalidArgument, "unknown dtype");
  return static_cast<mb::DType>(o.dtype);
}

mb::bridge::MegatronTarget target_of(const mb_convert_options& o) {
  mb::bridge::MegatronTarget t;
  if (o.format == MB_FORMAT_TORCH_DIST || o.format == MB_FORMAT_AUTO) t.format = mb::Format::kTorchDist;
  else if (o.format == MB_FORMAT_MEGATRON_LEGACY) t.format = mb::Format::kMegatronLegacy;
  else mb::fail(mb::Status::kInvalidArgument, "mb_convert_options.format must be torch_dist or megatron_legacy");
  t.layout.tp = o.tp;
  t.layout.pp = o.pp;
  t.layout.vpp = o.vpp;
  t.layout.ep = o.ep;
  t.layout.spec = o.local_spec ? mb::bridge::MegatronSpec::kLocal : mb::bridge::MegatronSpec::kTransformerEngine;
  t.layout.vocab_divisible_by = o.vocab_divisible_by;
  t.iteration = o.iteration;
  t.dtype = dtype_of(o);
  return t;
}

// mb_export_next, and with `frame` set, the tensor's frame too.
mb_status export_next(mb_export* it, mb_tensor_view* out, const void** frame, size_t* frame_size) {
  if (!it) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "iterator is NULL"); });
  bool done = false;
  if (it->failed != MB_OK) {
    it->error = it->failure;
    mb::api::set_last_error(it->failure);
    return it->failed;
  }
  mb_status st = mb::api::guarded(&it->error, [&] {
    mb::api::require(out, "out");
    it->frame.clear();
    if (frame) {
      *frame = nullptr;
      *frame_size = 0;
    }
    if (!it->stream->next(it->name, it->tensor)) {
      done = true;
      return;
    }
    std::memset(out, 0, sizeof(*out));
    out->name = it->name.c_str();
    out->dtype = static_cast<mb_dtype>(it->tensor.dtype());
    out->ndim = it->tensor.ndim();
    for (int i = 0; i < it->tensor.ndim(); ++i) out->shape[i] = it->tensor.shape()[i];
    out->nbytes = it->tensor.nbytes();
    out->data = it->tensor.numel() ? it->tensor.data() : nullptr;
    out->device = MB_DEVICE_CPU;
    if (frame) {
      it->frame = mb::encode_tensor_frame(it->name, it->tensor, it->frame_options);
      *frame = it->frame.data();
      *frame_size = it->frame.size();
    }
  });
  if (st != MB_OK && out) {  // (a NULL `out` is the caller's mistake, not the stream's)
    it->failed = st;
    it->failure = it->error;
  }
  return st == MB_OK && done ? MB_DONE : st;
}

}  // namespace

extern "C" {

mb_bridge_options mb_bridge_default_options(void) {
  mb_bridge_options o;
  std::memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  return o;
}

mb_status mb_bridge_open(mb_bridge** out, const char* path, const mb_bridge_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(out, "out");
    *out = nullptr;
    mb::api::require(path, "path");
    // The first mb_bridge_options ended at `family`; `progress` and `user_data` are read when present.
    mb::api::check_struct_size(options, offsetof(mb_bridge_options, progress), "mb_bridge_options");
    mb::ProgressFn progress;
    if (options && options->struct_size >= sizeof(mb_bridge_options))
      progress = progress_of(options->progress, options->user_data);
    const std::string local = model_path(path, mb::hub::Need::kModel, progress);
    auto b = std::make_unique<mb_bridge>();
    b->source = mb::bridge::open_param_source(
        local, options ? source_options(options->hf_model, options->family, progress) : mb::bridge::MegatronSourceOptions{});
    *out = b.release();
  });
}

void mb_bridge_free(mb_bridge* bridge) { delete bridge; }

const char* mb_bridge_errmsg(const mb_bridge* bridge) { return bridge ? bridge->error.c_str() : "NULL bridge"; }

mb_status mb_bridge_info(mb_bridge* bridge, const char** json) {
  if (!bridge) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "bridge is NULL"); });
  return mb::api::guarded(&bridge->error, [&] {
    mb::api::require(json, "json");
    bridge->info_json = mb::json::dump(mb::bridge::bridge_info(*bridge->source));
    *json = bridge->info_json.c_str();
  });
}

const char* mb_list_supported(void) {
  static const std::string list = mb::json::dump(mb::bridge::supported_families_json());
  return list.c_str();
}

mb_status mb_can_handle(const char* config_path, int* supported, const char** reason) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(config_path, "config_path");
    mb::api::require(supported, "supported");
    mb::HfConfig config = mb::load_hf_config(model_path(config_path, mb::hub::Need::kConfig));
    mb::bridge::Detection d = mb::bridge::detect_family(config);
    *supported = 0;
    t_scratch = d.reason;
    if (d.family) {
      try {
        mb::bridge::model_config_from_hf(config);
        *supported = 1;
      } catch (const mb::Error& e) {
        t_scratch = e.message();
      }
    }
    if (reason) *reason = t_scratch.c_str();
  });
}

mb_export_options mb_export_default_options(void) {
  mb_export_options o;
  std::memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  o.target = MB_TARGET_HF;
  o.frame_level = mb::kDefaultTensorZstdLevel;
  o.threads = 0;
  return o;
}

mb_status mb_export_begin_with_options(mb_export** out, mb_bridge* bridge, const mb_export_options* options) {
  return mb::api::guarded(bridge ? &bridge->error : nullptr, [&] {
    mb::api::require(out, "out");
    *out = nullptr;
    mb::api::require(bridge, "bridge");
    mb::api::check_struct_size(options, sizeof(mb_export_options), "mb_export_options");
    const mb_export_options o = options ? *options : mb_export_default_options();
    if (o.target != MB_TARGET_HF && o.target != MB_TARGET_MEGATRON)
      mb::fail(mb::Status::kInvalidArgument, "unknown export target ", static_cast<int>(o.target));
    mb::check_zstd_level(o.frame_level);
    if (o.threads < 0) mb::fail(mb::Status::kInvalidArgument, "mb_export_options.threads must not be negative");
    auto it = std::make_unique<mb_export>();
    it->bridge = bridge;
    it->stream = std::make_unique<mb::bridge::ExportStream>(
        *bridge->source, o.target == MB_TARGET_HF ? mb::bridge::ExportTarget::kHuggingFace
                                                  : mb::bridge::ExportTarget::kMegatron);
    it->frame_options.level = o.frame_level;
    it->frame_options.threads = static_cast<size_t>(o.threads);
    *out = it.release();
  });
}

mb_status mb_export_begin(mb_export** out, mb_bridge* bridge, mb_target target) {
  mb_export_options o = mb_export_default_options();
  o.target = target;
  return mb_export_begin_with_options(out, bridge, &o);
}


mb_status mb_export_next(mb_export* it, mb_tensor_view* out) { return export_next(it, out, nullptr, nullptr); }

mb_status mb_export_next_frame(mb_export* it, mb_tensor_view* out, const void** frame, size_t* frame_size) {
  if (it && (!frame || !frame_size))
    return mb::api::guarded(&it->error, [] { mb::fail(mb::Status::kInvalidArgument, "frame and frame_size must not be NULL"); });
  return export_next(it, out, frame, frame_size);
}

void mb_export_free(mb_export* it) { delete it; }

const char* mb_export_errmsg(const mb_export* it) { return it ? it->error.c_str() : "NULL iterator"; }

mb_convert_options mb_convert_default_options(void) {
  mb_convert_options o;
  std::memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  o.format = MB_FORMAT_TORCH_DIST;
  o.tp = o.pp = o.vpp = o.ep = 1;
  o.dtype = MB_DTYPE_KEEP;
  o.vocab_divisible_by = 1;
  o.max_shard_bytes = 5000000000ull;
  return o;
}

mb_status mb_import_ckpt(const char* hf_path, const char* megatron_path, const mb_convert_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(hf_path, "hf_path");
    mb::api::require(megatron_path, "megatron_path");
    mb_convert_options o = options_or_default(options);
    mb::bridge::ImportOptions io;
    io.target = target_of(o);
    io.source.allow_unused = o.allow_unused != 0;
    io.progress = progress_of(o);
    mb::bridge::import_checkpoint(model_path(hf_path, mb::hub::Need::kModel, io.progress), megatron_path, io);
  });
}

mb_status mb_export_ckpt(const char* megatron_path, const char* hf_path, const mb_convert_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(megatron_path, "megatron_path");
    mb::api::require(hf_path, "hf_path");
    mb_convert_options o = options_or_default(options);
    mb::bridge::ExportOptions eo;
    eo.source = source_options(o.hf_model, o.family, progress_of(o));
    eo.target.dtype = dtype_of(o);  // the Megatron format and layout fields do not apply to an export
    if (o.max_shard_bytes) eo.target.shards.max_shard_bytes = o.max_shard_bytes;
    eo.progress = progress_of(o);
    mb::bridge::export_checkpoint(megatron_path, hf_path, eo);
  });
}

mb_status mb_reshard_ckpt(const char* megatron_path, const char* out_path, const mb_convert_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(megatron_path, "megatron_path");
    mb::api::require(out_path, "out_path");
    mb_convert_options o = options_or_default(options);
    mb::bridge::ReshardOptions ro;
    ro.progress = progress_of(o);
    ro.source = source_options(o.hf_model, o.family, ro.progress);
    ro.target = target_of(o);
    mb::bridge::reshard_checkpoint(model_path(megatron_path, mb::hub::Need::kModel, ro.progress), out_path, ro);
  });
}

mb_status mb_verify(const char* a, const char* b, int* equal, const char** report_json) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(a, "a");
    mb::api::require(b, "b");
    mb::api::require(equal, "equal");
    auto sa = mb::bridge::open_param_source(model_path(a, mb::hub::Need::kModel));
    auto sb = mb::bridge::open_param_source(model_path(b, mb::hub::Need::kModel));
    auto rows = mb::bridge::verify_models(*sa, *sb);
    bool all = !rows.empty();
    for (const auto& r : rows) all = all && r.equal;
    *equal = all ? 1 : 0;
    mb::json::Value report = mb::json::Value::object();
    report.set("params", mb::bridge::verify_rows_json(rows));
    report.set("equal", all);
    t_scratch = mb::json::dump(report);
    if (report_json) *report_json = t_scratch.c_str();
  });
}

}  // extern "C"
