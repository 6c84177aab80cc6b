// Read-only folders that live inside a file (an mbridge bundle): while mounted at the file's own path,
// "model.mbz/config.json" or "model.mbz/iter_0000010/.metadata" resolve inside it, so every reader that
// goes through core/paths.h and MappedFile::open works on it unchanged. No real path can be shadowed: the
// mount point is a regular file, which the file system itself never lets have children.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mb {

class MappedFile;

class VirtualTree {
 public:
  virtual ~VirtualTree() = default;
  // `relative` is "" for the tree's root, else a normalised '/'-separated path inside it.
  virtual bool is_directory(const std::string& relative) const = 0;
  virtual bool is_file(const std::string& relative) const = 0;
  virtual uint64_t file_size(const std::string& relative) const = 0;           // throws when not a file
  virtual std::vector<std::string> list(const std::string& relative) const = 0;  // names, sorted
  // The file's bytes, readable as a mapping; `shown_path` is the path to give it (for messages).
  virtual std::shared_ptr<MappedFile> open(const std::string& relative, const std::string& shown_path) const = 0;
};

// Mounts `tree` at `path` (the regular file holding it) until the returned handle is destroyed. Mounting
// the same path again while it is mounted shares the first tree.
std::shared_ptr<const void> mount_virtual_tree(const std::string& path, std::shared_ptr<VirtualTree> tree);
// The tree mounted at `path` right now, if any (a second opener reuses it instead of reading it again).
std::shared_ptr<VirtualTree> mounted_tree(const std::string& path);

struct VirtualPath {
  std::shared_ptr<VirtualTree> tree;
  std::string relative;  // "" for the mount point itself
};
// Where `path` lies when it is a mount point or inside one; nullopt for ordinary paths.
std::optional<VirtualPath> find_virtual(const std::string& path);

}  // namespace mb
