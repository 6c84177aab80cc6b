// C ABI: mb_checkpoint, a checkpoint in any format as a set of named tensors (io/tensor_files.h).
#include <cstring>
#include <memory>
#include <string>

#include "api/api_guard.h"
#include "hub/model_path.h"
#include "io/tensor_files.h"
#include "mbridge.h"

struct mb_checkpoint {
  std::unique_ptr<mb::TensorFiles> files;
  std::string error;       // mb_checkpoint_errmsg
  std::string info_json;   // mb_checkpoint_info_json
  std::string report_json; // mb_checkpoint_compare
  mb::Tensor last_read;    // keeps mb_checkpoint_read's data alive
};

namespace {

void fill_view(const mb::TensorInfo& info, mb_tensor_view* out) {
  std::memset(out, 0, sizeof(*out));
  out->name = info.name.c_str();
  out->dtype = static_cast<mb_dtype>(info.dtype);
  out->ndim = info.shape.size();
  for (int i = 0; i < info.shape.size(); ++i) out->shape[i] = info.shape[i];
  uint64_t nbytes = 0;
  mb::checked_nbytes(info.shape, mb::dtype_size(info.dtype), &nbytes);
  out->nbytes = nbytes;
  out->device = MB_DEVICE_CPU;
}

mb::DType check_dtype(mb_dtype d, const char* what) {
  if (d < 0 || d >= mb::kNumDTypes) mb::fail(mb::Status::kInvalidArgument, what, ": unknown dtype ", static_cast<int>(d));
  return static_cast<mb::DType>(d);
}

}  // namespace

extern "C" {

mb_open_options mb_open_default_options(void) {
  mb_open_options o;
  std::memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  o.format = MB_FORMAT_AUTO;
  return o;
}

mb_write_options mb_write_default_options(void) {
  mb_write_options o;
  std::memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  o.format = MB_FORMAT_SAFETENSORS;
  o.max_shard_bytes = 5000000000ull;
  o.files = 1;
  o.chunks = 1;
  o.dtype = MB_DTYPE_KEEP;
  return o;
}

mb_status mb_checkpoint_open(mb_checkpoint** out, const char* path, const mb_open_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(out, "out");
    *out = nullptr;
    mb::api::require(path, "path");
    mb::api::check_struct_size(options, sizeof(mb_open_options), "mb_open_options");
    mb_open_options o = options ? *options : mb_open_default_options();
    if (o.format < MB_FORMAT_AUTO || o.format > MB_FORMAT_MEGATRON_LEGACY)
      mb::fail(mb::Status::kInvalidArgument, "unknown format ", static_cast<int>(o.format));
    mb::TorchLoadOptions load;
    load.verify_crc = o.verify_checksums != 0;
    auto handle = std::make_unique<mb_checkpoint>();
    // Safetensors may come from the Hugging Face Hub: an org/name[@revision] id that is no local path.
    const bool hub_format = o.format == MB_FORMAT_AUTO || o.format == MB_FORMAT_SAFETENSORS;
    const std::string local = hub_format ? mb::hub::local_model_path(path, mb::hub::Need::kModel) : path;
    handle->files = mb::open_tensor_files(local, static_cast<mb::Format>(o.format), load);
    *out = handle.release();
  });
}

void mb_checkpoint_free(mb_checkpoint* checkpoint) { delete checkpoint; }

const char* mb_checkpoint_errmsg(const mb_checkpoint* checkpoint) {
  return checkpoint ? checkpoint->error.c_str() : "NULL checkpoint";
}

mb_format mb_checkpoint_format(const mb_checkpoint* checkpoint) {
  return checkpoint ? static_cast<mb_format>(checkpoint->files->format()) : MB_FORMAT_AUTO;
}

mb_status mb_checkpoint_info_json(mb_checkpoint* checkpoint, const char** json) {
  if (!checkpoint) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "checkpoint is NULL"); });
  return mb::api::guarded(&checkpoint->error, [&] {
    mb::api::require(json, "json");
    const mb::TensorFiles& f = *checkpoint->files;
    mb::json::Value v = mb::json::Value::object();
    v.set("format", mb::format_name(f.format()));
    v.set("path", f.path());
    v.set("tensors", static_cast<int64_t>(f.tensors().size()));
    uint64_t bytes = 0;
    for (const auto& t : f.tensors()) {
      uint64_t b = 0;
      mb::checked_nbytes(t.shape, mb::dtype_size(t.dtype), &b);
      bytes += b;
    }
    v.set("bytes", static_cast<int64_t>(bytes));
    v.set("details", f.describe());
    checkpoint->info_json = mb::json::dump(v);
    *json = checkpoint->info_json.c_str();
  });
}

int64_t mb_checkpoint_tensor_count(const mb_checkpoint* checkpoint) {
  return checkpoint ? static_cast<int64_t>(checkpoint->files->tensors().size()) : -1;
}

mb_status mb_checkpoint_tensor_info(mb_checkpoint* checkpoint, int64_t index, mb_tensor_view* out) {
  if (!checkpoint) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "checkpoint is NULL"); });
  return mb::api::guarded(&checkpoint->error, [&] {
    mb::api::require(out, "out");
    const auto& tensors = checkpoint->files->tensors();
    if (index < 0 || index >= static_cast<int64_t>(tensors.size()))
      mb::fail(mb::Status::kInvalidArgument, "tensor index ", index, " out of range (", tensors.size(), " tensors)");
    fill_view(tensors[static_cast<size_t>(index)], out);
  });
}

mb_status mb_checkpoint_read(mb_checkpoint* checkpoint, const char* name, mb_dtype dtype, mb_tensor_view* out) {
  if (!checkpoint) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "checkpoint is NULL"); });
  return mb::api::guarded(&checkpoint->error, [&] {
    mb::api::require(name, "name");
    mb::api::require(out, "out");
    const mb::TensorInfo* info = checkpoint->files->find(name);
    if (!info) mb::fail(mb::Status::kNotFound, checkpoint->files->path(), ": no tensor named '", name, "'");
    mb::Tensor t = checkpoint->files->read(name);
    if (dtype != MB_DTYPE_KEEP) t = t.to(check_dtype(dtype, "dtype"));
    t = t.contiguous();
    checkpoint->last_read = t;
    fill_view(*info, out);
    out->dtype = static_cast<mb_dtype>(t.dtype());
    out->nbytes = t.nbytes();
    out->data = t.numel() ? t.data() : nullptr;
  });
}

mb_status mb_checkpoint_write(mb_checkpoint* checkpoint, const char* out_path, const mb_write_options* options) {
  if (!checkpoint) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "checkpoint is NULL"); });
  return mb::api::guarded(&checkpoint->error, [&] {
    mb::api::require(out_path, "out_path");
    mb::api::require(options, "options");
    mb::api::check_struct_size(options, sizeof(mb_write_options), "mb_write_options");
    if (options->format <= MB_FORMAT_AUTO || options->format > MB_FORMAT_MEGATRON_LEGACY)
      mb::fail(mb::Status::kInvalidArgument, "mb_write_options.format must name a format");
    if (options->files < 1 || options->chunks < 1)
      mb::fail(mb::Status::kInvalidArgument, "mb_write_options.files and .chunks must be at least 1");
    mb::TranscodeOptions t;
    t.format = static_cast<mb::Format>(options->format);
    t.max_shard_bytes = options->max_shard_bytes ? options->max_shard_bytes : 5000000000ull;
    t.files = options->files;
    t.chunks = options->chunks;
    if (options->dtype != MB_DTYPE_KEEP) t.dtype = check_dtype(options->dtype, "mb_write_options.dtype");
    if (options->progress) {
      mb_progress_fn fn = options->progress;
      void* user = options->user_data;
      t.progress = [fn, user](const std::string& stage, uint64_t done, uint64_t total) {
        return fn(stage.c_str(), done, total, user) == 0;
      };
    }
    mb::transcode(*checkpoint->files, out_path, t);
  });
}

mb_status mb_checkpoint_compare(mb_checkpoint* a, mb_checkpoint* b, int* equal, const char** report_json) {
  if (!a || !b) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "checkpoint is NULL"); });
  return mb::api::guarded(&a->error, [&] {
    mb::api::require(equal, "equal");
    auto rows = mb::compare_tensor_files(*a->files, *b->files);
    mb::json::Value diffs = mb::json::Value::array();
    bool all = true;
    for (const auto& r : rows) {
      if (r.equal) continue;
      all = false;
      mb::json::Value d = mb::json::Value::object();
      d.set("name", r.name);
      d.set("a", r.a.empty() ? mb::json::Value() : mb::json::Value(r.a));
      d.set("b", r.b.empty() ? mb::json::Value() : mb::json::Value(r.b));
      diffs.push(std::move(d));
    }
    *equal = all ? 1 : 0;
    mb::json::Value report = mb::json::Value::object();
    report.set("compared", static_cast<int64_t>(rows.size()));
    report.set("different", std::move(diffs));
    a->report_json = mb::json::dump(report);
    if (report_json) *report_json = a->report_json.c_str();
  });
}

}  // extern "C"
