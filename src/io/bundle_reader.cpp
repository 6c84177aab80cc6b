#include "io/bundle_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/error.h"
#include "core/paths.h"
#include "io/zstd_chunk.h"

namespace mb {

// ---- the bundle --------------------------------------------------------------------------------------------

std::shared_ptr<Bundle> Bundle::open(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse(file->bytes(), file, path);
}

std::shared_ptr<Bundle> Bundle::parse(ByteView bytes, std::shared_ptr<const void> owner, const std::string& source) {
  std::shared_ptr<Bundle> b(new Bundle());
  b->owner_ = std::move(owner);
  b->bytes_ = bytes;
  b->source_ = source;
  b->index_ = parse_bundle(bytes, source);
  b->build_lookup();
  return b;
}

void Bundle::build_lookup() {
  for (size_t i = 0; i < index_.files.size(); ++i) by_path_.emplace(index_.files[i].path, i);
}

const BundleFile* Bundle::find(const std::string& relative) const {
  auto it = by_path_.find(relative);
  return it == by_path_.end() ? nullptr : &index_.files[it->second];
}

std::string Bundle::describe_chunk(const BundleFile& file, size_t c) const {
  const BundleChunk& k = file.chunks[c];
  const BundleSegment& s = file.segments[k.segment];
  return cat(source_, ": file '", file.path, "'", s.is_tensor() ? cat(", tensor '", s.tensor, "'") : std::string(),
             " (chunk ", c - s.first_chunk + 1, " of ", s.chunk_count, ", bytes ", k.raw_offset, "..",
             k.raw_offset + k.raw_length, ")");
}

void Bundle::decode(const BundleFile& file, size_t c, uint8_t* dst) const {
  const BundleChunk& k = file.chunks[c];
  const BundleSegment& s = file.segments[k.segment];
  decompress_chunk(frame(k), s.plane_width, dst, static_cast<size_t>(k.raw_length), k.crc32, describe_chunk(file, c));
}

std::shared_ptr<LazyImage> Bundle::image(const BundleFile& file) const {
  const size_t i = static_cast<size_t>(&file - index_.files.data());
  std::lock_guard<std::mutex> lock(images_mutex_);
  if (auto live = images_[i].lock()) return live;
  auto made = make_bundle_image(shared_from_this(), file);
  images_[i] = made;
  return made;
}

// ---- the bundle as a folder --------------------------------------------------------------------------------

namespace {

class BundleTree : public VirtualTree {
 public:
  explicit BundleTree(std::shared_ptr<const Bundle> bundle) : bundle_(std::move(bundle)) {
    dirs_[""];
    auto add_parents = [&](const std::string& p) {
      size_t slash = p.rfind('/');
      std::string child = p;
      while (true) {
        std::string parent = slash == std::string::npos ? "" : child.substr(0, slash);
        dirs_[parent].insert(child.substr(parent.empty() ? 0 : parent.size() + 1));
        if (parent.empty()) break;
        dirs_[parent];
        child = parent;
        slash = child.rfind('/');
      }
    };
    for (const std::string& d : bundle_->index().directories) {
      dirs_[d];
      add_parents(d);
    }
    for (const BundleFile& f : bundle_->index().files) add_parents(f.path);
  }

  bool is_directory(const std::string& relative) const override { return dirs_.count(relative) > 0; }
  bool is_file(const std::string& relative) const override { return bundle_->find(relative) != nullptr; }
  uint64_t file_size(const std::string& relative) const override { return file(relative).size; }
  std::vector<std::string> list(const std::string& relative) const override {
    auto it = dirs_.find(relative);
    if (it == dirs_.end()) fail(Status::kIo, bundle_->path(), ": no folder '", relative, "' in the bundle");
    return {it->second.begin(), it->second.end()};
  }
  std::shared_ptr<MappedFile> open(const std::string& relative, const std::string& shown_path) const override {
    return MappedFile::from_image(shown_path, bundle_->image(file(relative)));
  }

 private:
  const BundleFile& file(const std::string& relative) const {
    const BundleFile* f = bundle_->find(relative);
    if (!f) fail(Status::kNotFound, bundle_->path(), "/", relative, ": cannot open: no such file in the bundle");
    return *f;
  }

  std::shared_ptr<const Bundle> bundle_;
  std::map<std::string, std::set<std::string>> dirs_;  // every folder -> the names in it, sorted
};

}  // namespace

std::shared_ptr<VirtualTree> Bundle::tree() const { return std::make_shared<BundleTree>(shared_from_this()); }

bool is_bundle_file(const std::string& path) {
  if (auto v = find_virtual(path); v && !v->relative.empty()) return false;  // no bundles inside bundles
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint8_t head[8];
  ssize_t n = ::pread(fd, head, sizeof(head), 0);
  ::close(fd);
  return n == static_cast<ssize_t>(sizeof(head)) && has_bundle_magic(head, sizeof(head)) && is_regular_file(path);
}

std::shared_ptr<const void> mount_if_bundle(const std::string& path) {
  if (!is_bundle_file(path)) return nullptr;
  if (auto tree = mounted_tree(path)) return mount_virtual_tree(path, tree);
  return mount_virtual_tree(path, Bundle::open(path)->tree());
}

}  // namespace mb
