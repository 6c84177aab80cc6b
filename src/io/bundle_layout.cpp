#include "io/bundle_layout.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "core/paths.h"
#include "io/safetensors.h"
#include "io/torch_dist.h"
#include "io/torch_save.h"

namespace fs = std::filesystem;

namespace mb {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::vector<TensorRegion> safetensors_regions(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  std::vector<TensorRegion> out;
  for (const SafetensorsEntry& e : f->entries())
    if (e.end > e.begin)
      out.push_back({f->data_start() + e.begin, e.end - e.begin, dtype_size(e.dtype), e.name, dtype_name(e.dtype)});
  return out;
}

std::vector<TensorRegion> torch_save_regions(const std::string& path) {
  auto f = TorchSaveFile::open(path);
  std::vector<TensorRegion> out;
  for (const auto& r : f->storage_regions())
    out.push_back({r.offset, r.length, dtype_size(r.dtype), r.tensor, dtype_name(r.dtype)});
  return out;
}

// The tensor chunks of a torch_dist iteration folder, per .distcp file name.
std::map<std::string, std::vector<TensorRegion>> torch_dist_regions(const std::string& dir) {
  auto ck = TorchDistCheckpoint::open(dir);
  std::map<std::string, std::shared_ptr<MappedFile>> files;
  std::map<std::string, std::vector<TensorRegion>> out;
  for (const DistTensor& t : ck->tensors()) {
    for (const DistChunk& c : t.chunks) {
      auto& file = files[c.file];
      if (!file) file = MappedFile::open(join_path(dir, c.file));
      const std::string name = t.key + " " + c.offsets.to_string();
      auto archive = TorchSaveFile::open_range(file, c.offset, c.length, join_path(dir, c.file) + " (" + name + ")");
      for (const auto& r : archive->storage_regions())
        out[c.file].push_back({r.offset, r.length, dtype_size(r.dtype), name, dtype_name(r.dtype)});
    }
  }
  return out;
}

// Sorted, and anything overlapping an earlier region dropped (storages never overlap; this only guards
// the invariant the packer relies on).
void tidy(std::vector<TensorRegion>& regions) {
  std::sort(regions.begin(), regions.end(), [](const TensorRegion& a, const TensorRegion& b) { return a.offset < b.offset; });
  std::vector<TensorRegion> kept;
  uint64_t end = 0;
  for (TensorRegion& r : regions) {
    if (r.length == 0 || r.offset < end) continue;
    end = r.offset + r.length;
    kept.push_back(std::move(r));
  }
  regions = std::move(kept);
}

class Scanner {
 public:
  explicit Scanner(std::string root) : root_(std::move(root)) {}

  PackTree run() {
    if (!is_directory(root_)) fail(Status::kNotFound, root_, ": not a folder");
    walk(root_, "");
    std::sort(tree_.files.begin(), tree_.files.end(), [](const PackFile& a, const PackFile& b) { return a.path < b.path; });
    return std::move(tree_);
  }

 private:
  void walk(const std::string& dir, const std::string& relative) {
    std::map<std::string, std::vector<TensorRegion>> dist;
    if (is_regular_file(join_path(dir, ".metadata"))) {
      try {
        dist = torch_dist_regions(dir);
      } catch (const Error& e) {
        log_warning(cat(dir, ": not read as a torch_dist folder, its .distcp files are packed as plain bytes: ", e.message()));
      }
    }
    for (const std::string& name : list_directory(dir)) {
      const std::string full = join_path(dir, name);
      const std::string rel = relative.empty() ? name : relative + "/" + name;
      std::error_code ec;
      fs::file_status link = fs::symlink_status(full, ec);
      fs::file_status target = fs::status(full, ec);
      if (fs::is_directory(target)) {
        if (fs::is_symlink(link)) fail(Status::kUnsupported, full, ": a symlinked folder; pack the folder it points to");
        tree_.directories.push_back(rel);
        walk(full, rel);
      } else if (fs::is_regular_file(target)) {
        PackFile f;
        f.path = rel;
        f.source = full;
        f.size = file_size(full);
        auto it = dist.find(name);
        if (it != dist.end()) f.tensors = std::move(it->second);
        else f.tensors = regions_of(full, name);
        tidy(f.tensors);
        tree_.files.push_back(std::move(f));
      } else {
        fail(Status::kUnsupported, full, fs::is_symlink(link) ? ": a broken symlink" : ": not a regular file or folder");
      }
    }
  }

  static std::vector<TensorRegion> regions_of(const std::string& full, const std::string& name) {
    try {
      if (ends_with(name, ".safetensors")) return safetensors_regions(full);
      if (ends_with(name, ".pt") || ends_with(name, ".pth") || ends_with(name, ".bin")) return torch_save_regions(full);
    } catch (const Error& e) {
      log_warning(cat(full, ": packed as plain bytes (", e.message(), ")"));
    }
    return {};
  }

  std::string root_;
  PackTree tree_;
};

}  // namespace

PackTree scan_pack_tree(const std::string& root) { return Scanner(root).run(); }

}  // namespace mb
