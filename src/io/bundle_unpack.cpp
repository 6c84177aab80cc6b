#include "io/bundle_unpack.h"

#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "core/byte_sink.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/threads.h"
#include "io/bundle_reader.h"
#include "io/crc32.h"

namespace mb {

namespace {

std::atomic<uint64_t> g_unpack_counter{0};

// Decodes the chunks of `file` in order, a batch at a time on all threads, and hands each decoded chunk to
// `out` in file order; then checks the whole file's CRC-32.
void decode_file(const Bundle& bundle, const BundleFile& file, size_t threads, Progress& progress,
                 const std::function<void(const uint8_t*, size_t)>& out) {
  if (threads == 0) threads = default_thread_count();
  const size_t batch = std::max<size_t>(2, threads * 2);
  std::vector<std::vector<uint8_t>> buffers(batch);
  uint32_t crc = 0;
  for (size_t start = 0; start < file.chunks.size(); start += batch) {
    const size_t n = std::min(batch, file.chunks.size() - start);
    parallel_for(n, threads, [&](size_t i) {
      const BundleChunk& c = file.chunks[start + i];
      buffers[i].resize(static_cast<size_t>(c.raw_length));
      bundle.decode(file, start + i, buffers[i].data());
    });
    for (size_t i = 0; i < n; ++i) {
      crc = crc32_of(buffers[i].data(), buffers[i].size(), crc);
      out(buffers[i].data(), buffers[i].size());
      progress.advance(buffers[i].size());
    }
  }
  if (crc != file.crc32)
    fail(Status::kFormat, bundle.path(), ": file '", file.path, "': checksum of the whole file mismatch: the bundle is damaged");
}

uint64_t total_bytes(const BundleIndex& index) {
  uint64_t total = 0;
  for (const BundleFile& f : index.files) total += f.size;
  return total;
}

}  // namespace

UnpackReport unpack_bundle(const std::string& bundle_path, const std::string& out_dir_given, const UnpackOptions& options) {
  std::string out_dir = out_dir_given;
  while (out_dir.size() > 1 && out_dir.back() == '/') out_dir.pop_back();
  if (out_dir.empty()) fail(Status::kInvalidArgument, "unpack: no output folder given");
  if (path_exists(out_dir)) fail(Status::kInvalidArgument, out_dir, ": already exists; refusing to overwrite it");
  auto bundle = Bundle::open(bundle_path);
  const BundleIndex& index = bundle->index();

  const std::string parent = parent_path(out_dir);
  if (!parent.empty()) make_directories(parent);
  const std::string temp = cat(out_dir, ".incomplete-", ::getpid(), "-", g_unpack_counter++);
  make_directories(temp);
  struct Cleanup {
    std::string dir;
    bool keep = false;
    ~Cleanup() {
      if (!keep) remove_tree(dir);
    }
  } cleanup{temp};

  UnpackReport report;
  for (const std::string& d : index.directories) make_directories(join_path(temp, d));
  report.directories = index.directories.size();
  Progress progress(options.progress, "unpack", total_bytes(index));
  for (const BundleFile& f : index.files) {
    const std::string parent_dir = parent_path(f.path);
    if (!parent_dir.empty()) make_directories(join_path(temp, parent_dir));
    OutputFile out(join_path(temp, f.path));
    decode_file(*bundle, f, options.threads, progress, [&](const uint8_t* p, size_t n) { out.write(p, n); });
    out.commit(options.fsync);
    ++report.files;
    report.bytes += f.size;
  }
  progress.finish();
  rename_path(temp, out_dir);
  cleanup.keep = true;
  return report;
}

UnpackReport verify_bundle(const std::string& bundle_path, const UnpackOptions& options) {
  auto bundle = Bundle::open(bundle_path);
  UnpackReport report;
  report.directories = bundle->index().directories.size();
  Progress progress(options.progress, "verify", total_bytes(bundle->index()));
  for (const BundleFile& f : bundle->index().files) {
    decode_file(*bundle, f, options.threads, progress, [](const uint8_t*, size_t) {});
    ++report.files;
    report.bytes += f.size;
  }
  progress.finish();
  return report;
}

}  // namespace mb
