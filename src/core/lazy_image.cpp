#include "core/lazy_image.h"

#include <atomic>
#include <map>
#include <mutex>

namespace mb {

namespace {
struct Registered {
  size_t size;
  std::weak_ptr<LazyImage> image;
};
std::mutex g_mutex;
std::map<uintptr_t, Registered> g_images;  // by base address
std::atomic<size_t> g_count{0};            // lets pin_bytes skip the lock when no image lives
}  // namespace

void register_lazy_image(const std::shared_ptr<LazyImage>& image) {
  if (!image || image->size() == 0) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_images[reinterpret_cast<uintptr_t>(image->data())] = {image->size(), image};
  g_count = g_images.size();
}

void unregister_lazy_image(const LazyImage* image) {
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_images.find(reinterpret_cast<uintptr_t>(image->data()));
  if (it != g_images.end()) g_images.erase(it);
  g_count = g_images.size();
}

std::shared_ptr<const void> pin_bytes(const void* data, size_t n) {
  if (g_count.load(std::memory_order_acquire) == 0 || n == 0) return nullptr;
  const auto p = reinterpret_cast<uintptr_t>(data);
  std::shared_ptr<LazyImage> image;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_images.upper_bound(p);
    if (it == g_images.begin()) return nullptr;
    --it;
    if (p - it->first >= it->second.size || n > it->second.size - (p - it->first)) return nullptr;
    image = it->second.image.lock();
    if (!image) return nullptr;
  }
  return image->pin(p - reinterpret_cast<uintptr_t>(image->data()), n);
}

}  // namespace mb
