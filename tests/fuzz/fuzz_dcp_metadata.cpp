// The input as a torch_dist iteration folder's .metadata: TorchDistCheckpoint::open (which unpickles it
// and checks every item and chunk against the data files), then every tensor and bytes item read.
// The folder is made once per process: data files copied from $MB_FUZZ_DCP_DIR (e.g. a fixture's
// iteration folder, so mutated metadata can reach real chunks) or, without it, one sparse 1 MiB
// __0_0.distcp of zeros.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/paths.h"
#include "io/torch_dist.h"
#include "fuzz_common.h"

namespace {

std::string g_dir;

void remove_dir() { mb::remove_tree(g_dir); }

void write_all(const std::string& path, const void* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { std::perror(path.c_str()); std::abort(); }
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n <= 0) { std::perror(path.c_str()); std::abort(); }
    p += n;
    size -= static_cast<size_t>(n);
  }
  ::close(fd);
}

void make_dir() {
  char tmpl[] = "/tmp/mbridge-fuzz-dcp-XXXXXX";
  if (!mkdtemp(tmpl)) { std::perror("mkdtemp"); std::abort(); }
  g_dir = tmpl;
  std::atexit(remove_dir);
  const char* from = std::getenv("MB_FUZZ_DCP_DIR");
  if (from && *from) {
    for (const std::string& name : mb::list_directory(from)) {
      if (name.size() < 7 || name.compare(name.size() - 7, 7, ".distcp") != 0) continue;
      std::string bytes = mb::read_text_file(mb::join_path(from, name), size_t(1) << 30);
      write_all(mb::join_path(g_dir, name), bytes.data(), bytes.size());
    }
  } else {
    std::string path = mb::join_path(g_dir, "__0_0.distcp");
    write_all(path, "", 0);
    if (truncate(path.c_str(), 1 << 20) != 0) { std::perror(path.c_str()); std::abort(); }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_dir.empty()) make_dir();
  write_all(mb::join_path(g_dir, ".metadata"), data, size);
  try {
    auto ck = mb::TorchDistCheckpoint::open(g_dir);
    for (const mb::DistTensor& t : ck->tensors()) {
      try {
        mbfuzz::consume(ck->read(t.key));
      } catch (const mb::Error&) {
      }
    }
    for (const mb::DistBytes& b : ck->byte_items()) {
      mb::ByteView v = ck->read_bytes(b);
      mbfuzz::consume(v.data, v.size);
    }
  } catch (const mb::Error&) {
  }
  return 0;
}
