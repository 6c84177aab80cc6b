// mbridge verify PATH [--json]: every zip CRC checked and every tensor byte read.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "io/json.h"
#include "io/tensor_files.h"

namespace mb::cli {

int run_verify(int argc, char** argv) {
  Args args(argc, argv, 2, {"format"}, {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs("usage: mbridge verify PATH [--format F] [--no-progress] [--json]\n", stdout);
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
  TorchLoadOptions load;
  load.verify_crc = true;
  const std::string& path = args.positional(0, "PATH");
  std::unique_ptr<TensorFiles> files;
  try {
    files = open_tensor_files(path, format_option(args, "format"), load);
  } catch (const Error& e) {
    if (e.status() != Status::kFormat) throw;
    return damaged(e);
  }
  uint64_t total = 0, checksum = 0;
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
      for (size_t i = 0; i < x.nbytes(); ++i) checksum = checksum * 31 + p[i];
      progress.advance(x.nbytes());
    } catch (const Error& e) {
      if (e.status() != Status::kFormat) throw;
      return damaged(e);
    }
  }
  progress.finish();
  if (as_json) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(checksum));
    json::Value v = json::Value::object();
    v.set("ok", true);
    v.set("format", format_name(files->format()));
    v.set("tensors", static_cast<int64_t>(files->tensors().size()));
    v.set("bytes", total);
    v.set("checksum", std::string(hex));
    std::printf("%s\n", json::dump(v).c_str());
    return 0;
  }
  std::printf("ok: %zu tensors, %llu bytes read (%s), checksum %016llx\n", files->tensors().size(),
              static_cast<unsigned long long>(total), format_name(files->format()), static_cast<unsigned long long>(checksum));
  return 0;
}

}  // namespace mb::cli
