#include "core/virtual_files.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/error.h"

namespace fs = std::filesystem;

namespace mb {

namespace {

struct Mount {
  std::shared_ptr<VirtualTree> tree;
  size_t handles = 0;
};
std::mutex g_mutex;
std::map<std::string, Mount> g_mounts;  // by absolute, lexically normal path
std::atomic<size_t> g_count{0};         // lets every path lookup skip the work while nothing is mounted

// "a/./b/../c/" -> "/cwd/a/c": one spelling per place, so a mount is found however the path is written.
std::string normal_key(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) return path;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

class MountHandle {
 public:
  explicit MountHandle(std::string key) : key_(std::move(key)) {}
  ~MountHandle() {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_mounts.find(key_);
    if (it != g_mounts.end() && --it->second.handles == 0) g_mounts.erase(it);
    g_count = g_mounts.size();
  }

 private:
  std::string key_;
};

}  // namespace

std::shared_ptr<const void> mount_virtual_tree(const std::string& path, std::shared_ptr<VirtualTree> tree) {
  if (!tree) fail(Status::kInternal, path, ": mounting nothing");
  std::string key = normal_key(path);
  std::lock_guard<std::mutex> lock(g_mutex);
  Mount& m = g_mounts[key];
  if (!m.tree) m.tree = std::move(tree);
  ++m.handles;
  g_count = g_mounts.size();
  return std::make_shared<MountHandle>(key);
}

std::shared_ptr<VirtualTree> mounted_tree(const std::string& path) {
  if (g_count.load(std::memory_order_acquire) == 0) return nullptr;
  std::string key = normal_key(path);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_mounts.find(key);
  return it == g_mounts.end() ? nullptr : it->second.tree;
}

std::optional<VirtualPath> find_virtual(const std::string& path) {
  if (g_count.load(std::memory_order_acquire) == 0 || path.empty()) return std::nullopt;
  std::string q = normal_key(path);
  std::lock_guard<std::mutex> lock(g_mutex);
  // Mounts are few (one per open bundle): look at each, keep the longest that q lies in.
  const std::pair<const std::string, Mount>* best = nullptr;
  for (const auto& entry : g_mounts) {
    const std::string& key = entry.first;
    if (q.compare(0, key.size(), key) != 0 || (q.size() > key.size() && q[key.size()] != '/')) continue;
    if (!best || key.size() > best->first.size()) best = &entry;
  }
  if (best) {
    const size_t n = best->first.size();
    return VirtualPath{best->second.tree, q.size() == n ? std::string() : q.substr(n + 1)};
  }
  return std::nullopt;
}

}  // namespace mb
