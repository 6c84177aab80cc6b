#include "core/dims.h"

#include "core/error.h"

namespace mb {

Dims::Dims(std::initializer_list<int64_t> values) {
  for (int64_t x : values) push_back(x);
}

Dims::Dims(const std::vector<int64_t>& values) {
  for (int64_t x : values) push_back(x);
}

void Dims::push_back(int64_t x) {
  if (n_ == kMaxDims) fail(Status::kUnsupported, "tensors have at most ", kMaxDims, " dimensions");
  v_[n_++] = x;
}

bool Dims::operator==(const Dims& o) const {
  if (n_ != o.n_) return false;
  for (int i = 0; i < n_; ++i)
    if (v_[i] != o.v_[i]) return false;
  return true;
}

std::string Dims::to_string() const {
  std::string s = "[";
  for (int i = 0; i < n_; ++i) {
    if (i) s += ", ";
    s += std::to_string(v_[i]);
  }
  return s + "]";
}

bool checked_numel(const Dims& shape, int64_t* numel) {
  int64_t n = 1;
  for (int64_t x : shape) {
    if (x < 0) return false;
    if (__builtin_mul_overflow(n, x, &n)) return false;
  }
  *numel = n;
  return true;
}

bool checked_nbytes(const Dims& shape, size_t element_size, uint64_t* nbytes) {
  int64_t n;
  if (!checked_numel(shape, &n)) return false;
  int64_t b;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(element_size), &b)) return false;
  *nbytes = static_cast<uint64_t>(b);
  return true;
}

Dims contiguous_strides(const Dims& shape) {
  Dims strides = shape;
  int64_t s = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    strides[i] = s;
    // saturates instead of overflowing: such a shape is refused by the element-count checks anyway
    if (__builtin_mul_overflow(s, shape[i] > 0 ? shape[i] : 1, &s)) s = INT64_MAX;
  }
  return strides;
}

}  // namespace mb
