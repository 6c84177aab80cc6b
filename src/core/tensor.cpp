#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/cast.h"
#include "core/error.h"
#include "core/threads.h"

namespace mb {

// ---- Storage -------------------------------------------------------------------------------------

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  std::shared_ptr<Storage> s(new Storage());
  s->nbytes_ = nbytes;
  s->device_ = device;
  s->owned_ = true;
  if (device.is_cpu()) {
    size_t rounded = (nbytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!p) fail(Status::kOutOfMemory, "cannot allocate ", nbytes, " bytes of host memory");
    s->data_ = static_cast<uint8_t*>(p);
  } else {
    s->data_ = static_cast<uint8_t*>(cuda_allocate(nbytes, device.index));
  }
  return s;
}

std::shared_ptr<Storage> Storage::borrow(const void* data, size_t nbytes, std::shared_ptr<const void> owner) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = static_cast<uint8_t*>(const_cast<void*>(data));
  s->nbytes_ = nbytes;
  s->owner_ = std::move(owner);
  return s;
}

Storage::~Storage() {
  if (!owned_) return;
  if (device_.is_cpu()) std::free(data_);
  else cuda_free(data_, device_.index);
}

uint8_t* Storage::mutable_data() {
  if (!owned_) fail(Status::kInternal, "write into read-only (borrowed) tensor storage");
  return data_;
}

// ---- Tensor: construction --------------------------------------------------------------------------

Tensor Tensor::empty(DType dtype, const Dims& shape, Device device) {
  uint64_t nbytes;
  if (!checked_nbytes(shape, dtype_size(dtype), &nbytes))
    fail(Status::kInvalidArgument, "tensor shape ", shape.to_string(), " is negative or too large");
  return from_storage(Storage::allocate(nbytes, device), 0, dtype, shape);
}

Tensor Tensor::zeros(DType dtype, const Dims& shape) {
  Tensor t = empty(dtype, shape);
  std::memset(t.mutable_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::from_bytes(DType dtype, const Dims& shape, const void* bytes, size_t nbytes) {
  Tensor t = empty(dtype, shape);
  if (t.nbytes() != nbytes)
    fail(Status::kInvalidArgument, "tensor of ", dtype_name(dtype), shape.to_string(), " needs ", t.nbytes(),
         " bytes, got ", nbytes);
  if (nbytes) std::memcpy(t.mutable_data(), bytes, nbytes);
  return t;
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, size_t byte_offset, DType dtype, const Dims& shape,
                            const Dims& strides) {
  if (!storage) fail(Status::kInternal, "tensor without storage");
  if (shape.size() != strides.size()) fail(Status::kInvalidArgument, "shape and strides differ in rank");
  int64_t numel;
  if (!checked_numel(shape, &numel))
    fail(Status::kInvalidArgument, "tensor shape ", shape.to_string(), " is negative or too large");
  const size_t es = dtype_size(dtype);
  if (byte_offset % es != 0 && numel > 0 && !storage->device().is_cpu())
    fail(Status::kInvalidArgument, "device tensor offset is not a multiple of its element size");
  if (numel > 0) {
    // The furthest element reached, in elements from the first one; strides must not be negative.
    int64_t last = 0;
    for (int i = 0; i < shape.size(); ++i) {
      if (strides[i] < 0) fail(Status::kInvalidArgument, "negative strides are not supported");
      int64_t reach;
      if (__builtin_mul_overflow(shape[i] - 1, strides[i], &reach) || __builtin_add_overflow(last, reach, &last))
        fail(Status::kInvalidArgument, "tensor strides overflow");
    }
    uint64_t end_bytes;
    if (__builtin_mul_overflow(static_cast<uint64_t>(last) + 1, es, &end_bytes) ||
        __builtin_add_overflow(end_bytes, static_cast<uint64_t>(byte_offset), &end_bytes) ||
        end_bytes > storage->nbytes())
      fail(Status::kInvalidArgument, "tensor ", dtype_name(dtype), shape.to_string(), " at byte offset ",
           byte_offset, " does not fit in its storage of ", storage->nbytes(), " bytes");
  }
  Tensor t;
  t.storage_ = std::move(storage);
  t.offset_ = byte_offset;
  t.dtype_ = dtype;
  t.shape_ = shape;
  t.strides_ = strides;
  return t;
}

// ---- Tensor: properties ----------------------------------------------------------------------------

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t x : shape_) n *= x;
  return n;
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (shape_[i] == 0) return true;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device{}; }

const void* Tensor::data() const {
  if (!storage_) fail(Status::kInternal, "data() of an undefined tensor");
  return storage_->data() + offset_;
}

void* Tensor::mutable_data() {
  if (!storage_) fail(Status::kInternal, "mutable_data() of an undefined tensor");
  return storage_->mutable_data() + offset_;
}

std::string Tensor::describe() const { return mb::cat(dtype_name(dtype_), shape_.to_string()); }

// ---- Tensor: views ---------------------------------------------------------------------------------

Tensor Tensor::narrow(int dim, int64_t start, int64_t length) const {
  if (dim < 0 || dim >= ndim()) fail(Status::kInvalidArgument, "narrow: dimension ", dim, " out of range");
  if (start < 0 || length < 0 || start > shape_[dim] || length > shape_[dim] - start)
    fail(Status::kInvalidArgument, "narrow: [", start, ", +", length, ") outside extent ", shape_[dim]);
  Tensor t = *this;
  t.shape_[dim] = length;
  if (length > 0) t.offset_ += static_cast<size_t>(start * strides_[dim]) * element_size();
  return t;
}

Tensor Tensor::select(int dim, int64_t index) const {
  Tensor t = narrow(dim, index, 1);
  Dims shape, strides;
  for (int i = 0; i < ndim(); ++i) {
    if (i == dim) continue;
    shape.push_back(t.shape_[i]);
    strides.push_back(t.strides_[i]);
  }
  t.shape_ = shape;
  t.strides_ = strides;
  return t;
}

Tensor Tensor::transpose(int dim0, int dim1) const {
  if (dim0 < 0 || dim0 >= ndim() || dim1 < 0 || dim1 >= ndim())
    fail(Status::kInvalidArgument, "transpose: dimensions ", dim0, ", ", dim1, " of a ", ndim(), "-d tensor");
  Tensor t = *this;
  std::swap(t.shape_[dim0], t.shape_[dim1]);
  std::swap(t.strides_[dim0], t.strides_[dim1]);
  return t;
}

Tensor Tensor::reshape(const Dims& shape) const {
  int64_t n;
  if (!checked_numel(shape, &n) || n != numel())
    fail(Status::kInvalidArgument, "reshape ", shape_.to_string(), " -> ", shape.to_string(), ": element counts differ");
  Tensor src = is_contiguous() ? *this : contiguous();
  Tensor t = src;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

// ---- Tensor: copies --------------------------------------------------------------------------------

namespace {

// Walks every element of `shape` in row-major order, calling fn(src_elem_offset, dst_elem_offset, run)
// for maximal runs where both sides advance contiguously.
template <class Fn>
void for_each_run(const Dims& shape, const Dims& src_strides, const Dims& dst_strides, Fn fn) {
  const int nd = shape.size();
  int64_t numel = 1;
  for (int64_t x : shape) numel *= x;
  if (numel == 0) return;
  // Merge trailing dimensions that are contiguous on both sides into one run.
  int64_t run = 1;
  int inner = nd;
  while (inner > 0) {
    int d = inner - 1;
    if (shape[d] == 1) { --inner; continue; }
    if (src_strides[d] != run || dst_strides[d] != run) break;
    run *= shape[d];
    --inner;
  }
  int64_t index[kMaxDims] = {};
  int64_t outer = numel / run;
  for (int64_t k = 0; k < outer; ++k) {
    int64_t so = 0, doff = 0;
    for (int d = 0; d < inner; ++d) {
      so += index[d] * src_strides[d];
      doff += index[d] * dst_strides[d];
    }
    fn(so, doff, run);
    for (int d = inner - 1; d >= 0; --d) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace

void Tensor::copy_from(const Tensor& src) {
  if (!defined() || !src.defined()) fail(Status::kInternal, "copy between undefined tensors");
  if (src.shape_ != shape_)
    fail(Status::kInvalidArgument, "copy: shape ", src.shape_.to_string(), " into ", shape_.to_string());
  if (numel() == 0) return;
  if (!device().is_cpu() || !src.device().is_cpu()) {
    if (src.dtype_ != dtype_ || !src.is_contiguous() || !is_contiguous())
      fail(Status::kUnsupported, "device copies need contiguous tensors of one dtype");
    cuda_copy(mutable_data(), device(), src.data(), src.device(), nbytes());
    return;
  }
  // A large copy (fusing QKV, casting a checkpoint) is split along its first dimension over several cores.
  const int64_t rows = ndim() > 0 ? shape_[0] : 0;
  if (rows > 1 && std::max(nbytes(), src.nbytes()) >= kParallelBytes) {
    const size_t row_bytes = std::max(nbytes(), src.nbytes()) / static_cast<size_t>(rows);
    const size_t rows_per_piece = std::max<size_t>(1, kParallelPieceBytes / std::max<size_t>(row_bytes, 1));
    parallel_pieces(static_cast<size_t>(rows), rows_per_piece, [&](size_t begin, size_t length) {
      Tensor d = narrow(0, static_cast<int64_t>(begin), static_cast<int64_t>(length));
      d.copy_from(src.narrow(0, static_cast<int64_t>(begin), static_cast<int64_t>(length)));
    });
    return;
  }
  const auto* s = static_cast<const uint8_t*>(src.data());
  auto* d = static_cast<uint8_t*>(mutable_data());
  const size_t ses = src.element_size(), des = element_size();
  const DType sdt = src.dtype_, ddt = dtype_;
  const bool zero_dim = ndim() == 0;
  for_each_run(shape_, src.strides_, strides_, [&](int64_t so, int64_t doff, int64_t run) {
    cast_elements(s + so * ses, sdt, d + doff * des, ddt, static_cast<size_t>(run), zero_dim);
  });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(dtype_, shape_, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  if (!device().is_cpu()) fail(Status::kUnsupported, "dtype casts of device tensors are done by the engine");
  Tensor t = empty(dtype, shape_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor src = this->device().is_cpu() ? contiguous() : *this;
  Tensor t = empty(dtype_, shape_, device);
  t.copy_from(src);
  return t;
}

Tensor Tensor::cat(const std::vector<Tensor>& parts, int dim) {
  if (parts.empty()) fail(Status::kInvalidArgument, "cat of no tensors");
  const Tensor& first = parts[0];
  if (dim < 0 || dim >= first.ndim()) fail(Status::kInvalidArgument, "cat: dimension ", dim, " out of range");
  Dims shape = first.shape();
  int64_t total = 0;
  for (const Tensor& p : parts) {
    if (p.ndim() != first.ndim() || p.dtype() != first.dtype())
      fail(Status::kInvalidArgument, "cat: ", p.describe(), " does not match ", first.describe());
    for (int i = 0; i < p.ndim(); ++i)
      if (i != dim && p.shape()[i] != shape[i])
        fail(Status::kInvalidArgument, "cat: ", p.describe(), " does not match ", first.describe(), " off dimension ", dim);
    total += p.shape()[dim];
  }
  shape[dim] = total;
  Tensor out = empty(first.dtype(), shape);
  int64_t at = 0;
  for (const Tensor& p : parts) {
    Tensor slot = out.narrow(dim, at, p.shape()[dim]);
    slot.copy_from(p);
    at += p.shape()[dim];
  }
  return out;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  Tensor ca = a.device().is_cpu() ? a.contiguous() : a.to(Device{});
  Tensor cb = b.device().is_cpu() ? b.contiguous() : b.to(Device{});
  return ca.nbytes() == 0 || std::memcmp(ca.data(), cb.data(), ca.nbytes()) == 0;
}

}  // namespace mb
