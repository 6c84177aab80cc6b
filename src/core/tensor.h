// The tensor type: a dtype, a shape, strides (in elements) and a byte offset into a shared Storage.
// Storage is owned host memory (64-byte aligned), borrowed memory kept alive by a shared owner (an mmap
// of a checkpoint file: zero-copy reads), or CUDA device memory when built with CUDA.
// Views (narrow, select, reshape of contiguous data) share storage; copies are explicit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device_memory.h"
#include "core/dims.h"
#include "core/dtype.h"

namespace mb {

class Storage {
 public:
  // Fresh memory of nbytes (not zeroed) on the device.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = {});
  // Memory owned by someone else; `owner` keeps it alive (e.g. the mapped file). Read-only.
  static std::shared_ptr<Storage> borrow(const void* data, size_t nbytes, std::shared_ptr<const void> owner);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data();  // throws for borrowed (read-only) storage
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool writable() const { return owned_; }

 private:
  Storage() = default;
  uint8_t* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_{};
  bool owned_ = false;
  std::shared_ptr<const void> owner_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  static Tensor empty(DType dtype, const Dims& shape, Device device = {});
  static Tensor zeros(DType dtype, const Dims& shape);
  // A view of existing storage; checks that every element lies inside it.
  static Tensor from_storage(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, const Dims& shape,
                             const Dims& strides);
  static Tensor from_storage(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, const Dims& shape) {
    return from_storage(std::move(storage), byte_offset, dtype, shape, contiguous_strides(shape));
  }
  // Contiguous host tensor holding a copy of `bytes`.
  static Tensor from_bytes(DType dtype, const Dims& shape, const void* bytes, size_t nbytes);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Dims& shape() const { return shape_; }
  const Dims& strides() const { return strides_; }
  int ndim() const { return shape_.size(); }
  int64_t size(int dim) const { return shape_[dim]; }
  int64_t numel() const;
  size_t element_size() const { return dtype_size(dtype_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  bool is_contiguous() const;
  Device device() const;

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t byte_offset() const { return offset_; }
  const void* data() const;   // first element
  void* mutable_data();       // first element; storage must be writable
  template <class T>
  const T* data_as() const { return static_cast<const T*>(data()); }
  template <class T>
  T* mutable_data_as() { return static_cast<T*>(mutable_data()); }

  // Views sharing storage.
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor select(int dim, int64_t index) const;
  Tensor reshape(const Dims& shape) const;  // view when contiguous, else a contiguous copy
  Tensor transpose(int dim0, int dim1) const;  // the two dimensions swapped (a strided view)

  // Copies.
  Tensor contiguous() const;  // *this when already contiguous on its device
  Tensor clone() const;
  Tensor to(DType dtype) const;  // cast (host tensors); *this when the dtype already matches
  Tensor to(Device device) const;
  // Writes src into *this, element by element: shapes must match, dtypes may differ (cast), strides of
  // both are honoured. Device tensors must be contiguous and of the same dtype.
  void copy_from(const Tensor& src);

  static Tensor cat(const std::vector<Tensor>& parts, int dim);

  // "BF16[4, 32]"
  std::string describe() const;

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  Dims shape_;
  Dims strides_;
};

// Same dtype, same shape and the same bytes element by element (NaN payloads included).
bool bitwise_equal(const Tensor& a, const Tensor& b);

}  // namespace mb
