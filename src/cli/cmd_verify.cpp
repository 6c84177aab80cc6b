// mbridge verify PATH [--json]: every zip CRC checked and every tensor byte read; for a bundle, every chunk
// decoded and every checksum checked.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/bundle_reader.h"
#include "io/bundle_unpack.h"
#include "io/crc32.h"
#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

int run_verify(int argc, char** argv) {
  Args args(argc, argv, 2, {"format"}, {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs("usage: mbridge verify PATH [--format F] [--no-progress] [--json]\n", stdout);
    std::fputs(kHubIdHelp, stdout);
    return 0;
  }
  const bool as_json = args.has("json");
  auto damaged = [&](const Error& e) {
    if (as_json) {
      json::Value v = json::Value::object();
      v.set("ok", false);
      v.set("error", std::string(e.what()));
      std::printf("%s\n", json::dump(v).c_str());
    } else {
      std::printf("DAMAGED: %s\n", e.what());
    }
    return 1;
  };
  const Format format = format_option(args, "format");
  const std::string path = checkpoint_arg(args, args.positional(0, "PATH"), format);
  if (is_bundle_file(path)) {
    UnpackOptions o;
    o.progress = progress_bar(!args.has("no-progress"));
    UnpackReport r;
    try {
      r = verify_bundle(path, o);
    } catch (const Error& e) {
      if (e.status() != Status::kFormat) throw;
      return damaged(e);
    }
    if (as_json) {
      json::Value v = json::Value::object();
      v.set("ok", true);
      v.set("format", "bundle");
      v.set("files", static_cast<uint64_t>(r.files));
      v.set("bytes", r.bytes);
      std::printf("%s\n", json::dump(v).c_str());
    } else {
      std::printf("ok: %zu files, %llu bytes decoded and checked (bundle)\n", r.files, static_cast<unsigned long long>(r.bytes));
    }
    return 0;
  }
  TorchLoadOptions load;
  load.verify_crc = true;
  std::unique_ptr<TensorFiles> files;
  try {
    files = open_tensor_files(path, format, load);
  } catch (const Error& e) {
    if (e.status() != Status::kFormat) throw;
    return damaged(e);
  }
  uint64_t total = 0;
  uint32_t checksum = 0;  // CRC-32 of every tensor's bytes, in order: compares two copies of one checkpoint
  for (const TensorInfo& t : files->tensors()) {
    uint64_t b = 0;
    checked_nbytes(t.shape, dtype_size(t.dtype), &b);
    total += b;
  }
  Progress progress(progress_bar(!args.has("no-progress")), "verify", total);
  for (const TensorInfo& t : files->tensors()) {
    try {
      Tensor x = files->read(t.name).contiguous();
      const auto* p = static_cast<const uint8_t*>(x.numel() ? x.data() : nullptr);
      checksum = crc32_of(p, x.nbytes(), checksum);
      progress.advance(x.nbytes());
    } catch (const Error& e) {
      if (e.status() != Status::kFormat) throw;
      return damaged(e);
    }
  }
  progress.finish();
  if (as_json) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", checksum);
    json::Value v = json::Value::object();
    v.set("ok", true);
    v.set("format", format_name(files->format()));
    v.set("tensors", static_cast<int64_t>(files->tensors().size()));
    v.set("bytes", total);
    v.set("crc32", std::string(hex));
    std::printf("%s\n", json::dump(v).c_str());
    return 0;
  }
  std::printf("ok: %zu tensors, %llu bytes read (%s), crc32 %08x\n", files->tensors().size(),
              static_cast<unsigned long long>(total), format_name(files->format()), checksum);
  return 0;
}

}  // namespace mb::cli
