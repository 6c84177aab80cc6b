// Dims: up to kMaxDims extents or strides, held inline; and overflow-checked element counts, which every
// parser uses before it trusts a shape read from a file.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace mb {

constexpr int kMaxDims = 8;

class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> values);
  explicit Dims(const std::vector<int64_t>& values);

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t& operator[](int i) { return v_[i]; }
  int64_t operator[](int i) const { return v_[i]; }
  const int64_t* begin() const { return v_; }
  const int64_t* end() const { return v_ + n_; }
  const int64_t* data() const { return v_; }
  void push_back(int64_t x);
  std::vector<int64_t> to_vector() const { return std::vector<int64_t>(begin(), end()); }
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  std::string to_string() const;  // "[2, 3]"

 private:
  int64_t v_[kMaxDims] = {};
  int n_ = 0;
};

// Product of the extents; false when an extent is negative or the product (or product * element_size)
// does not fit in int64.
bool checked_numel(const Dims& shape, int64_t* numel);
bool checked_nbytes(const Dims& shape, size_t element_size, uint64_t* nbytes);

// Row-major strides for a shape, in elements.
Dims contiguous_strides(const Dims& shape);

}  // namespace mb
