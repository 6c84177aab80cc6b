// A file image whose bytes are produced on demand: a file kept compressed inside a bundle is shown to
// the format readers as its original bytes (a MappedFile over this image), but the tensor regions are
// decompressed only when a reader pins them, and let go again when no view pins them any more. Readers
// call pin_bytes() where they turn file bytes into a tensor view and keep the returned handle as the
// view's owner; for ordinary files and memory it returns null and costs one lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mb {

class LazyImage {
 public:
  virtual ~LazyImage() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  // Makes [offset, offset+n) readable and returns what keeps it so (null when nothing there is lazy).
  // Thread-safe; throws a format error naming the file and tensor when the stored bytes are damaged.
  virtual std::shared_ptr<const void> pin(uint64_t offset, uint64_t n) = 0;
  // Forgets the produced bytes no pin holds (their memory goes back to the system); they are produced
  // again when pinned next.
  virtual void release_unpinned() = 0;
};

// Lazy images announce the address range they occupy, so that a reader holding only a pointer (a zip
// entry's bytes, a tensor's data) can pin it. Each image registers itself while it lives.
void register_lazy_image(const std::shared_ptr<LazyImage>& image);
void unregister_lazy_image(const LazyImage* image);

// Pins [data, data+n) when it lies inside a live lazy image; null otherwise (nothing to do).
std::shared_ptr<const void> pin_bytes(const void* data, size_t n);

}  // namespace mb
