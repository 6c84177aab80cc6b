// Reading an mbridge bundle (io/bundle_format.h) in place: the bundle is mapped, its index checked, and
// each member file is shown as an image of its original bytes (core/lazy_image.h) whose other bytes
// (headers, JSON, pickles) are decoded when the image is made and whose tensor data is decoded, in
// parallel, when a reader pins it. Mounted (core/virtual_files.h), the bundle is a read-only folder at its
// own path, so the Hugging Face and Megatron readers open "model.mbz" as they open the folder it came from.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/lazy_image.h"
#include "core/mapped_file.h"
#include "core/virtual_files.h"
#include "io/bundle_format.h"

namespace mb {

class Bundle : public std::enable_shared_from_this<Bundle> {
 public:
  static std::shared_ptr<Bundle> open(const std::string& path);
  // A bundle image already in memory (fuzzing, tests); `owner` keeps it alive.
  static std::shared_ptr<Bundle> parse(ByteView bytes, std::shared_ptr<const void> owner, const std::string& source);

  const std::string& path() const { return source_; }
  const BundleIndex& index() const { return index_; }
  const BundleFile* find(const std::string& relative) const;  // null when absent
  ByteView frame(const BundleChunk& chunk) const { return bytes_.sub(chunk.frame_offset, chunk.frame_length); }

  // Decodes chunk `c` of `file` into dst (its raw_length bytes) and checks it; errors name the bundle, the
  // file, the tensor and the chunk.
  void decode(const BundleFile& file, size_t c, uint8_t* dst) const;
  std::string describe_chunk(const BundleFile& file, size_t c) const;

  // The image of a member file; while anyone holds it, opening the file again returns the same image.
  std::shared_ptr<LazyImage> image(const BundleFile& file) const;
  // The bundle as a read-only folder (for mount_virtual_tree).
  std::shared_ptr<VirtualTree> tree() const;

 private:
  Bundle() = default;
  void build_lookup();

  std::shared_ptr<const void> owner_;
  ByteView bytes_;
  std::string source_;
  BundleIndex index_;
  std::unordered_map<std::string, size_t> by_path_;
  mutable std::mutex images_mutex_;
  mutable std::unordered_map<size_t, std::weak_ptr<LazyImage>> images_;
};

// A member's image (io/bundle_image.cpp): made by Bundle::image.
std::shared_ptr<LazyImage> make_bundle_image(std::shared_ptr<const Bundle> bundle, const BundleFile& file);
// How many of an image's tensor chunks are decoded right now (tests: pins and release_unpinned).
size_t bundle_image_loaded_chunks(const LazyImage& image);

// True when `path` is a regular file (outside any bundle) that starts with the bundle magic.
bool is_bundle_file(const std::string& path);

// When `path` is a bundle: mounts it so that paths inside it resolve (a bundle already mounted there is
// shared), and returns the handle that keeps it mounted. Null for any other path.
std::shared_ptr<const void> mount_if_bundle(const std::string& path);

}  // namespace mb
