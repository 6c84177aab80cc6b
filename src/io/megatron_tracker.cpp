#include "io/megatron_tracker.h"

#include <cstdio>
#include <cstdlib>

#include "core/byte_sink.h"
#include "core/error.h"
#include "core/paths.h"

namespace mb {

std::string iteration_dir_name(std::optional<int64_t> iteration) {
  if (!iteration) return "release";
  if (*iteration < 0) fail(Status::kInvalidArgument, "negative iteration ", *iteration);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "iter_%07lld", static_cast<long long>(*iteration));
  return buf;
}

IterationDir resolve_iteration_dir(const std::string& path) {
  if (!is_directory(path)) fail(Status::kNotFound, path, ": not a checkpoint folder");
  IterationDir out;
  const std::string tracker = join_path(path, kTrackerFileName);
  if (is_regular_file(tracker)) {
    std::string text = read_text_file(tracker, 4096);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
    out.root = path;
    if (text == "release") {
      out.directory = join_path(path, "release");
    } else {
      char* end = nullptr;
      long long it = std::strtoll(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || it < 0) fail_format(tracker, "holds '", text, "', not an iteration number");
      out.iteration = it;
      out.directory = join_path(path, iteration_dir_name(out.iteration));
    }
    if (!is_directory(out.directory))
      fail_format(tracker, "points at ", out.directory, ", which does not exist");
    return out;
  }
  out.directory = path;
  std::string name = file_name(path.back() == '/' ? path.substr(0, path.size() - 1) : path);
  if (name.rfind("iter_", 0) == 0) {
    char* end = nullptr;
    long long it = std::strtoll(name.c_str() + 5, &end, 10);
    if (*end == '\0') out.iteration = it;
  }
  return out;
}

void write_tracker(const std::string& root, std::optional<int64_t> iteration) {
  write_file_atomic(join_path(root, kTrackerFileName), iteration ? std::to_string(*iteration) : "release");
}

}  // namespace mb
