#include "io/safetensors.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/lazy_image.h"
#include "io/json.h"

namespace mb {

// ---- reading ------------------------------------------------------------------------------------------

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->file_ = MappedFile::open(path);
  f->owner_ = f->file_;
  f->bytes_ = f->file_->bytes();
  f->source_ = path;
  f->parse_header();
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::parse(ByteView bytes, std::shared_ptr<const void> owner,
                                                        const std::string& source) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->owner_ = std::move(owner);
  f->bytes_ = bytes;
  f->source_ = source;
  f->parse_header();
  return f;
}

void SafetensorsFile::parse_header() {
  const std::string& src = source_;
  if (bytes_.size < 8) fail_format(src, "too short for a safetensors file (", bytes_.size, " bytes)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes_.data[i];
  if (n > kSafetensorsMaxHeader) fail_format(src, "header length ", n, " exceeds the 100 MB limit");
  if (n > bytes_.size - 8) fail_format(src, "header length ", n, " runs past the end of the file (", bytes_.size, " bytes)");
  // the library's writer pads with spaces after the object; its reader also accepts whitespace before it
  uint64_t first = 8;
  while (first < 8 + n && (bytes_.data[first] == ' ' || bytes_.data[first] == '\t' || bytes_.data[first] == '\n' ||
                           bytes_.data[first] == '\r'))
    ++first;
  if (first >= 8 + n || bytes_.data[first] != '{') fail_format(src, "header is not a JSON object");
  data_start_ = 8 + n;
  const uint64_t data_size = bytes_.size - data_start_;

  json::Value header = json::parse(std::string_view(reinterpret_cast<const char*>(bytes_.data + 8), n), src);
  if (!header.is_object()) fail_format(src, "header is not a JSON object");
  entries_.reserve(header.size());
  for (const auto& [name, info] : header.members()) {
    if (name == "__metadata__") {
      if (!info.is_object()) fail_format(src, "__metadata__ is not an object");
      for (const auto& [k, v] : info.members()) {
        if (!v.is_string()) fail_format(src, "__metadata__ value '", k, "' is not a string");
        metadata_.emplace_back(k, v.as_string());
      }
      continue;
    }
    const std::string what = "tensor '" + name + "'";
    if (!info.is_object()) fail_format(src, what, " is not described by an object");
    const json::Value* dt = info.find("dtype");
    const json::Value* shape = info.find("shape");
    const json::Value* offs = info.find("data_offsets");
    if (!dt || !shape || !offs) fail_format(src, what, " lacks dtype, shape or data_offsets");
    SafetensorsEntry e;
    e.name = name;
    if (!dt->is_string()) fail_format(src, what, ": dtype is not a string");
    auto d = dtype_from_name(dt->as_string());
    if (!d) fail_format(src, what, ": dtype '", dt->as_string(), "' is not supported");
    e.dtype = *d;
    if (!shape->is_array() || shape->size() > static_cast<size_t>(kMaxDims))
      fail_format(src, what, ": shape must be an array of at most ", kMaxDims, " integers");
    for (const json::Value& x : shape->items()) {
      if (!x.is_int() || x.as_int() < 0) fail_format(src, what, ": shape holds a negative or non-integer extent");
      e.shape.push_back(x.as_int());
    }
    if (!offs->is_array() || offs->size() != 2 || !offs->items()[0].is_int() || !offs->items()[1].is_int() ||
        offs->items()[0].as_int() < 0 || offs->items()[1].as_int() < 0)
      fail_format(src, what, ": data_offsets must be two non-negative integers");
    e.begin = static_cast<uint64_t>(offs->items()[0].as_int());
    e.end = static_cast<uint64_t>(offs->items()[1].as_int());
    uint64_t nbytes;
    if (!checked_nbytes(e.shape, dtype_size(e.dtype), &nbytes))
      fail_format(src, what, ": shape ", e.shape.to_string(), " overflows");
    if (e.end < e.begin || e.end - e.begin != nbytes)
      fail_format(src, what, ": data_offsets [", e.begin, ", ", e.end, ") hold ", e.end - e.begin, " bytes but ",
                  dtype_name(e.dtype), e.shape.to_string(), " needs ", nbytes);
    if (e.end > data_size)
      fail_format(src, what, ": data ends at ", e.end, ", past the ", data_size, " bytes of data in the file");
    entries_.push_back(std::move(e));
  }
  // Lay the tensors out by offset: they must tile the data area exactly.
  std::vector<const SafetensorsEntry*> order;
  for (const auto& e : entries_) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t at = 0;
  for (const SafetensorsEntry* e : order) {
    if (e->begin != at)
      fail_format(src, "tensor '", e->name, "' starts at data offset ", e->begin, " where ", at,
                  e->begin < at ? " (it overlaps the previous tensor)" : " (a hole precedes it)");
    at = e->end;
  }
  if (at != data_size) fail_format(src, "tensors end at data offset ", at, " but the file holds ", data_size, " bytes of data");
  by_name_.reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i)
    if (!by_name_.emplace(entries_[i].name, i).second) fail_format(src, "tensor '", entries_[i].name, "' appears twice");
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

Tensor SafetensorsFile::tensor(const SafetensorsEntry& e) const {
  const uint8_t* data = bytes_.data + data_start_ + e.begin;
  const size_t n = static_cast<size_t>(e.end - e.begin);
  // A file inside a bundle produces a tensor's bytes when pinned; the pin then keeps them for the view.
  std::shared_ptr<const void> owner = pin_bytes(data, n);
  auto storage = Storage::borrow(data, n, owner ? std::move(owner) : owner_);
  return Tensor::from_storage(std::move(storage), 0, e.dtype, e.shape);
}

Tensor SafetensorsFile::tensor(std::string_view name) const {
  const SafetensorsEntry* e = find(name);
  if (!e) fail(Status::kNotFound, source_, ": no tensor named '", std::string(name), "'");
  return tensor(*e);
}

void SafetensorsFile::drop_pages() const {
  if (file_) file_->drop_pages();
}

void SafetensorsFile::prefetch(const SafetensorsEntry& e) const {
  if (file_) file_->will_need(static_cast<size_t>(data_start_ + e.begin), static_cast<size_t>(e.end - e.begin));
}

// ---- writing -------------------------------------------------------------------------------------------

namespace {
// The safetensors library's dtype order (increasing alignment); we sort by its reverse.
int library_rank(DType d) {
  switch (d) {
    case DType::BOOL: return 0;
    case DType::U8: return 1;
    case DType::I8: return 2;
    case DType::F8_E5M2: return 3;
    case DType::F8_E4M3: return 4;
    case DType::I16: return 5;
    case DType::F16: return 7;
    case DType::BF16: return 8;
    case DType::I32: return 9;
    case DType::F32: return 11;
    case DType::F64: return 12;
    case DType::I64: return 13;
  }
  return 0;
}
}  // namespace

void SafetensorsWriter::sort_like_library(std::vector<SafetensorsSpec>& specs) {
  std::stable_sort(specs.begin(), specs.end(), [](const SafetensorsSpec& a, const SafetensorsSpec& b) {
    int ra = library_rank(a.dtype), rb = library_rank(b.dtype);
    if (ra != rb) return ra > rb;
    return a.name < b.name;
  });
}

std::string SafetensorsWriter::header_bytes(const std::vector<SafetensorsSpec>& ordered, const StringPairs& metadata) {
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i) {
      if (i) h += ",";
      h += json::quote(metadata[i].first) + ":" + json::quote(metadata[i].second);
    }
    h += "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const SafetensorsSpec& s : ordered) {
    uint64_t nbytes;
    if (!checked_nbytes(s.shape, dtype_size(s.dtype), &nbytes))
      fail(Status::kInvalidArgument, "tensor '", s.name, "': shape ", s.shape.to_string(), " overflows");
    if (!first) h += ",";
    first = false;
    h += json::quote(s.name) + ":{\"dtype\":\"" + dtype_name(s.dtype) + "\",\"shape\":[";
    for (int i = 0; i < s.shape.size(); ++i) {
      if (i) h += ",";
      h += std::to_string(s.shape[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + h;
}

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<SafetensorsSpec> specs, StringPairs metadata)
    : out_(std::move(path)), specs_(std::move(specs)) {
  sort_like_library(specs_);
  std::string header = header_bytes(specs_, metadata);
  out_.write(header.data(), header.size());
  uint64_t at = header.size();
  for (size_t i = 0; i < specs_.size(); ++i) {
    if (!index_.emplace(specs_[i].name, i).second)
      fail(Status::kInvalidArgument, out_.path(), ": tensor '", specs_[i].name, "' given twice");
    offsets_.push_back(at);
    uint64_t nbytes;
    checked_nbytes(specs_[i].shape, dtype_size(specs_[i].dtype), &nbytes);
    at += nbytes;
  }
  written_.assign(specs_.size(), false);
  total_ = at;
}

void SafetensorsWriter::write(const std::string& name, const Tensor& tensor) {
  auto it = index_.find(name);
  if (it == index_.end()) fail(Status::kInvalidArgument, out_.path(), ": tensor '", name, "' was not announced");
  const SafetensorsSpec& s = specs_[it->second];
  if (written_[it->second]) fail(Status::kInvalidArgument, out_.path(), ": tensor '", name, "' written twice");
  if (tensor.dtype() != s.dtype || tensor.shape() != s.shape)
    fail(Status::kInvalidArgument, out_.path(), ": tensor '", name, "' is ", tensor.describe(), ", announced as ",
         dtype_name(s.dtype), s.shape.to_string());
  Tensor c = tensor.device().is_cpu() ? tensor.contiguous() : tensor.to(Device{});
  if (c.nbytes()) out_.pwrite_at(offsets_[it->second], c.data(), c.nbytes());
  written_[it->second] = true;
}

void SafetensorsWriter::finish(bool fsync_data) {
  for (size_t i = 0; i < specs_.size(); ++i)
    if (!written_[i]) fail(Status::kInvalidArgument, out_.path(), ": tensor '", specs_[i].name, "' was never written");
  if (out_.position() < total_) {  // only empty tensors at the end: nothing to pad
    fail(Status::kInternal, out_.path(), ": file shorter than its header promises");
  }
  out_.commit(fsync_data);
}

}  // namespace mb
