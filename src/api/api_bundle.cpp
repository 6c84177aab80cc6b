// C ABI: bundles (mb_bundle_pack, mb_bundle_unpack) and tensor frames (mb_frame_info, mb_frame_decode). Opening a
// bundle as a model is mb_bridge_open's job (api_bridge.cpp): the bridge reads bundles in place.
#include <cstring>

#include "api/api_guard.h"
#include "bridge/param_source.h"
#include "io/bundle_pack.h"
#include "io/bundle_unpack.h"
#include "io/tensor_frame.h"
#include "mbridge.h"

namespace {

mb_pack_options pack_options_or_default(const mb_pack_options* o) {
  mb::api::check_struct_size(o, sizeof(mb_pack_options), "mb_pack_options");
  mb_pack_options out = o ? *o : mb_pack_default_options();
  if (out.threads < 0) mb::fail(mb::Status::kInvalidArgument, "mb_pack_options.threads must not be negative");
  return out;
}

mb::ProgressFn progress_of(const mb_pack_options& o) {
  if (!o.progress) return {};
  mb_progress_fn fn = o.progress;
  void* user = o.user_data;
  return [fn, user](const std::string& stage, uint64_t done, uint64_t total) {
    return fn(stage.c_str(), done, total, user) == 0;
  };
}

}  // namespace

extern "C" {

mb_pack_options mb_pack_default_options(void) {
  mb_pack_options o;
  std::memset(&o, 0, sizeof(o));
  o.struct_size = sizeof(o);
  o.level = mb::kDefaultZstdLevel;
  o.tensor_level = mb::kDefaultTensorZstdLevel;
  o.chunk_bytes = mb::kDefaultChunkBytes;
  return o;
}

mb_status mb_bundle_pack(const char* folder, const char* bundle_path, const mb_pack_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(folder, "folder");
    mb::api::require(bundle_path, "bundle_path");
    const mb_pack_options o = pack_options_or_default(options);
    mb::PackOptions po;
    po.kind = mb::bridge::is_hf_folder(folder) ? "hf" : mb::bridge::is_megatron_checkpoint(folder) ? "megatron" : "files";
    po.level = o.level;
    po.tensor_level = o.tensor_level;
    po.chunk_bytes = o.chunk_bytes;
    po.threads = static_cast<size_t>(o.threads);
    po.progress = progress_of(o);
    po.created_by = std::string("mbridge ") + MB_VERSION_STRING;
    mb::pack_bundle(folder, bundle_path, po);
  });
}

mb_status mb_bundle_unpack(const char* bundle_path, const char* folder, const mb_pack_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(bundle_path, "bundle_path");
    mb::api::require(folder, "folder");
    const mb_pack_options o = pack_options_or_default(options);
    mb::UnpackOptions uo;
    uo.threads = static_cast<size_t>(o.threads);
    uo.progress = progress_of(o);
    mb::unpack_bundle(bundle_path, folder, uo);
  });
}

mb_status mb_frame_info(const void* frame, size_t frame_size, mb_tensor_view* out) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(frame, "frame");
    mb::api::require(out, "out");
    mb::TensorFrameInfo info = mb::parse_tensor_frame({static_cast<const uint8_t*>(frame), frame_size});
    std::memset(out, 0, sizeof(*out));
    out->name = info.name.data();  // NUL-terminated inside the frame
    out->dtype = static_cast<mb_dtype>(info.dtype);
    out->ndim = info.shape.size();
    for (int i = 0; i < info.shape.size(); ++i) out->shape[i] = info.shape[i];
    out->nbytes = info.nbytes;
    out->device = MB_DEVICE_CPU;
  });
}

mb_status mb_frame_decode(const void* frame, size_t frame_size, void* dst, size_t dst_size, int32_t threads) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(frame, "frame");
    if (dst_size) mb::api::require(dst, "dst");
    if (threads < 0) mb::fail(mb::Status::kInvalidArgument, "threads must not be negative");
    mb::decode_tensor_frame({static_cast<const uint8_t*>(frame), frame_size}, dst, dst_size, static_cast<size_t>(threads));
  });
}

}  // extern "C"
