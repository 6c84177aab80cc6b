// The image of one file inside a bundle: anonymous memory the size of the file, where the chunks of other
// bytes are decoded at once and the chunks of tensor data when first pinned (several at a time, on all
// cores), then kept while any pin holds them. release_unpinned() gives the memory of unpinned tensor chunks
// back, so streaming a model out of a bundle holds about what is in flight, not the whole model.
#include <sys/mman.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "core/error.h"
#include "core/threads.h"
#include "io/bundle_reader.h"

namespace mb {

namespace {

constexpr size_t kPage = 4096;

// Debug builds keep the pages of undecoded tensor chunks inaccessible, so a reader that reads tensor bytes
// without pinning them crashes in the tests instead of silently reading zeros.
#ifndef NDEBUG
constexpr bool kGuardUndecoded = true;
#else
constexpr bool kGuardUndecoded = false;
#endif

class BundleImage final : public LazyImage, public std::enable_shared_from_this<BundleImage> {
 public:
  BundleImage(std::shared_ptr<const Bundle> bundle, const BundleFile& file) : bundle_(std::move(bundle)), file_(file) {
    size_ = static_cast<size_t>(file.size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED)
        fail(Status::kOutOfMemory, bundle_->path(), ": cannot reserve ", size_, " bytes for '", file.path, "'");
      data_ = static_cast<uint8_t*>(p);
      // Fresh memory costs a fault per page on first touch; with 2 MiB pages, 512 times fewer.
      if (size_ >= (4u << 20)) madvise(p, size_, MADV_HUGEPAGE);
    }
    state_.assign(file.chunks.size(), kReady);
    pins_.assign(file.chunks.size(), 0);
    std::vector<size_t> eager;
    for (size_t c = 0; c < file.chunks.size(); ++c) {
      if (is_tensor(c)) {
        state_[c] = kEmpty;
        guard(c, true);
      } else {
        eager.push_back(c);
      }
    }
    try {
      parallel_for(eager.size(), 0, [&](size_t i) { bundle_->decode(file_, eager[i], data_ + file_.chunks[eager[i]].raw_offset); });
    } catch (...) {
      if (data_) munmap(data_, size_);
      throw;
    }
  }

  ~BundleImage() override {
    unregister_lazy_image(this);
    if (data_) munmap(data_, size_);
  }

  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }

  std::shared_ptr<const void> pin(uint64_t offset, uint64_t n) override {
    if (n == 0 || offset >= size_ || n > size_ - offset) return nullptr;
    const size_t first = chunk_at(offset), last = chunk_at(offset + n - 1);
    bool any = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t c = first; c <= last; ++c)
        if (is_tensor(c)) {
          ++pins_[c];
          any = true;
        }
    }
    if (!any) return nullptr;
    auto handle = std::make_shared<Pin>(shared_from_this(), first, last);  // unpins if loading throws
    load(first, last);
    return handle;
  }

  void release_unpinned() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t c = 0; c < state_.size(); ++c) {
      if (!is_tensor(c) || state_[c] != kReady || pins_[c] != 0) continue;
      auto [begin, end] = inner_pages(c);
      if (begin < end) madvise(data_ + begin, end - begin, MADV_DONTNEED);
      guard(c, true);
      state_[c] = kEmpty;
    }
  }

  size_t loaded_tensor_chunks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (size_t c = 0; c < state_.size(); ++c) n += is_tensor(c) && state_[c] == kReady;
    return n;
  }

 private:
  enum State : uint8_t { kEmpty, kLoading, kReady };

  struct Pin {
    Pin(std::shared_ptr<BundleImage> image, size_t first, size_t last) : image(std::move(image)), first(first), last(last) {}
    ~Pin() {
      std::lock_guard<std::mutex> lock(image->mutex_);
      for (size_t c = first; c <= last; ++c)
        if (image->is_tensor(c)) --image->pins_[c];
    }
    std::shared_ptr<BundleImage> image;
    size_t first, last;
  };

  bool is_tensor(size_t c) const { return file_.segments[file_.chunks[c].segment].is_tensor(); }

  size_t chunk_at(uint64_t offset) const {
    auto it = std::upper_bound(file_.chunks.begin(), file_.chunks.end(), offset,
                               [](uint64_t o, const BundleChunk& k) { return o < k.raw_offset; });
    return static_cast<size_t>(it - file_.chunks.begin()) - 1;
  }

  // The whole pages inside chunk c: only those can be given back or guarded without touching a neighbour.
  std::pair<size_t, size_t> inner_pages(size_t c) const {
    const BundleChunk& k = file_.chunks[c];
    const uintptr_t base = reinterpret_cast<uintptr_t>(data_);
    uintptr_t begin = (base + k.raw_offset + kPage - 1) / kPage * kPage;
    uintptr_t end = (base + k.raw_offset + k.raw_length) / kPage * kPage;
    return {begin - base, std::max(begin, end) - base};
  }

  void guard(size_t c, bool inaccessible) {
    if (!kGuardUndecoded) return;
    auto [begin, end] = inner_pages(c);
    if (begin >= end) return;
    if (mprotect(data_ + begin, end - begin, inaccessible ? PROT_NONE : PROT_READ | PROT_WRITE) != 0 && !inaccessible)
      fail(Status::kOutOfMemory, bundle_->path(), ": cannot make the memory of '", file_.path, "' writable");
  }

  // Decodes the pinned chunks [first, last] that are not decoded yet; waits for those another thread decodes.
  void load(size_t first, size_t last) {
    while (true) {
      std::vector<size_t> mine;
      bool others = false;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        for (size_t c = first; c <= last; ++c) {
          if (!is_tensor(c)) continue;
          if (state_[c] == kEmpty) {
            state_[c] = kLoading;
            guard(c, false);
            mine.push_back(c);
          } else if (state_[c] == kLoading) {
            others = true;
          }
        }
        if (mine.empty() && others) {
          changed_.wait(lock);
          continue;  // another thread's load may have failed: look again
        }
      }
      if (mine.empty()) return;
      std::vector<char> done(mine.size(), 0);
      try {
        parallel_for(mine.size(), 0, [&](size_t i) {
          bundle_->decode(file_, mine[i], data_ + file_.chunks[mine[i]].raw_offset);
          done[i] = 1;
        });
      } catch (...) {
        finish(mine, done);
        throw;
      }
      finish(mine, done);
      if (!others) return;
    }
  }

  void finish(const std::vector<size_t>& chunks, const std::vector<char>& done) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < chunks.size(); ++i) state_[chunks[i]] = done[i] ? kReady : kEmpty;
    changed_.notify_all();
  }

  std::shared_ptr<const Bundle> bundle_;
  const BundleFile& file_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<State> state_;      // per chunk
  std::vector<uint32_t> pins_;    // per chunk: live pins covering it
};

}  // namespace

std::shared_ptr<LazyImage> make_bundle_image(std::shared_ptr<const Bundle> bundle, const BundleFile& file) {
  auto image = std::make_shared<BundleImage>(std::move(bundle), file);
  register_lazy_image(image);
  return image;
}

size_t bundle_image_loaded_chunks(const LazyImage& image) {
  return dynamic_cast<const BundleImage&>(image).loaded_tensor_chunks();
}

}  // namespace mb
