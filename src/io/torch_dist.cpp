#include "io/torch_dist.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "core/error.h"
#include "core/paths.h"
#include "io/megatron_tracker.h"
#include "io/pickle_reader.h"
#include "io/pickle_writer.h"

namespace mb {

namespace {

constexpr const char* kMetadataFile = ".metadata";
constexpr const char* kMetadataJson = "metadata.json";
constexpr const char* kCommonPt = "common.pt";
constexpr const char* kCommonStateKey = "common_state/shard_0_1";
constexpr const char* kDcp = "torch.distributed.checkpoint.metadata.";

std::string dims_key(const std::string& fqn, const Dims& offsets) { return fqn + "@" + offsets.to_string(); }

// Keys are copied into lookups and messages once per chunk; a hostile, memoised megabyte key must not be.
void check_key_length(const std::string& key, const std::string& src) {
  if (key.size() > 4096) fail_format(src, "a key longer than 4096 bytes ('", key.substr(0, 64), "...')");
}

}  // namespace

// ---- chunk tiling --------------------------------------------------------------------------------------

void check_chunks_tile(const Dims& shape, const std::vector<std::pair<Dims, Dims>>& chunks, const std::string& what) {
  int64_t numel;
  if (!checked_numel(shape, &numel)) fail(Status::kFormat, what, ": global shape ", shape.to_string(), " overflows");
  struct Box {
    Dims lo, hi;
  };
  std::vector<Box> boxes;
  __int128 volume = 0;
  for (const auto& [off, size] : chunks) {
    if (off.size() != shape.size() || size.size() != shape.size())
      fail(Status::kFormat, what, ": chunk at ", off.to_string(), " has the wrong number of dimensions");
    Box b{off, off};
    __int128 v = 1;
    for (int d = 0; d < shape.size(); ++d) {
      if (off[d] < 0 || size[d] < 0 || off[d] > shape[d] || size[d] > shape[d] - off[d])
        fail(Status::kFormat, what, ": chunk ", off.to_string(), " + ", size.to_string(), " lies outside ",
             shape.to_string());
      b.hi[d] = off[d] + size[d];
      v *= size[d];
    }
    volume += v;
    if (v > 0) boxes.push_back(b);
  }
  if (volume != numel)
    fail(Status::kFormat, what, ": chunks hold ", static_cast<long long>(volume), " elements but the tensor has ", numel,
         volume < numel ? " (part of it is missing)" : " (chunks overlap)");
  if (shape.size() == 0) return;
  // Sweep along the dimension where the chunks start at the most distinct places (0 for row splits, 1 for
  // column splits: a sweep along a dimension every chunk spans would compare all pairs), and compare
  // only boxes whose extents overlap along it.
  int sweep = 0;
  size_t most = 0;
  for (int d = 0; d < shape.size(); ++d) {
    std::vector<int64_t> starts;
    for (const Box& b : boxes) starts.push_back(b.lo[d]);
    std::sort(starts.begin(), starts.end());
    size_t distinct = static_cast<size_t>(std::unique(starts.begin(), starts.end()) - starts.begin());
    if (distinct > most) most = distinct, sweep = d;
  }
  std::sort(boxes.begin(), boxes.end(), [&](const Box& a, const Box& b) { return a.lo[sweep] < b.lo[sweep]; });
  std::vector<const Box*> active;
  for (const Box& b : boxes) {
    active.erase(std::remove_if(active.begin(), active.end(),
                                [&](const Box* a) { return a->hi[sweep] <= b.lo[sweep]; }),
                 active.end());
    for (const Box* a : active) {
      bool overlap = true;
      for (int d = 0; d < shape.size() && overlap; ++d) overlap = a->lo[d] < b.hi[d] && b.lo[d] < a->hi[d];
      if (overlap) fail(Status::kFormat, what, ": chunks at ", a->lo.to_string(), " and ", b.lo.to_string(), " overlap");
    }
    active.push_back(&b);
  }
}

// ---- reading -------------------------------------------------------------------------------------------

bool TorchDistCheckpoint::is_torch_dist_dir(const std::string& dir) {
  return is_regular_file(join_path(dir, kMetadataFile)) || is_regular_file(join_path(dir, kMetadataJson));
}

std::shared_ptr<TorchDistCheckpoint> TorchDistCheckpoint::open(const std::string& path, const TorchLoadOptions& options) {
  IterationDir where = resolve_iteration_dir(path);
  std::shared_ptr<TorchDistCheckpoint> ck(new TorchDistCheckpoint());
  ck->directory_ = where.directory;
  ck->iteration_ = where.iteration;
  ck->options_ = options;
  const std::string config = join_path(ck->directory_, kMetadataJson);
  if (is_regular_file(config)) {
    ck->metadata_json_ = json::parse_file(config);
    const json::Value* backend = ck->metadata_json_.find("sharded_backend");
    if (!backend || !backend->is_string())
      fail_format(config, "has no \"sharded_backend\"");
    if (backend->as_string() != "torch_dist")
      fail(Status::kUnsupported, config, ": sharded backend '", backend->as_string(), "' (only torch_dist is supported)");
  }
  const std::string md_path = join_path(ck->directory_, kMetadataFile);
  if (!is_regular_file(md_path))
    fail(Status::kNotFound, ck->directory_, ": no ", kMetadataFile, " file; not a torch_dist checkpoint (or an unfinished one)");
  auto md = MappedFile::open(md_path);
  ck->parse_metadata(md->bytes(), md_path);
  return ck;
}

void TorchDistCheckpoint::parse_metadata(ByteView bytes, const std::string& src) {
  using pickle::Kind;
  using pickle::Node;
  pickle::ReadOptions ro = options_.pickle;
  pickle::Document doc = pickle::read(bytes, src, ro);
  const Node* root = doc.root;
  if (root->kind != Kind::kObject || root->qualified_name() != std::string(kDcp) + "Metadata")
    fail_format(src, "does not hold a torch.distributed.checkpoint Metadata object");
  const Node* sdm = pickle::object_attr(root, "state_dict_metadata");
  const Node* storage = pickle::object_attr(root, "storage_data");
  if (!sdm || sdm->kind != Kind::kDict) fail_format(src, "Metadata without state_dict_metadata");
  if (!storage || storage->kind != Kind::kDict) fail_format(src, "Metadata without storage_data");

  // where every item lives: (fqn, chunk offsets) -> file range
  struct Where {
    std::string file;
    uint64_t offset, length;
  };
  std::unordered_map<std::string, Where> where;
  std::unordered_map<std::string, uint64_t> file_sizes;
  struct Range {
    const Where* w;  // unordered_map keeps element addresses stable
    std::string fqn;
  };
  std::vector<Range> ranges;
  for (size_t i = 0; i + 1 < storage->items.size(); i += 2) {
    const Node* index = storage->items[i];
    const Node* info = storage->items[i + 1];
    if (index->kind != Kind::kObject || info->kind != Kind::kObject)
      fail_format(src, "storage_data entry is not (MetadataIndex, _StorageInfo)");
    const std::string& fqn = pickle::as_string(pickle::object_attr(index, "fqn"), src, "MetadataIndex.fqn");
    check_key_length(fqn, src);
    const Node* off = pickle::object_attr(index, "offset");
    Dims offsets;
    if (off && off->kind != Kind::kNone) offsets = pickle::as_dims(off, src, "MetadataIndex.offset of '" + fqn + "'");
    Where w;
    const std::string& file = pickle::as_string(pickle::object_attr(info, "relative_path"), src, "_StorageInfo.relative_path");
    check_relative_name(file, src, false);  // before copying it (also bounds its length)
    w.file = file;
    int64_t o = pickle::as_int(pickle::object_attr(info, "offset"), src, "_StorageInfo.offset");
    int64_t n = pickle::as_int(pickle::object_attr(info, "length"), src, "_StorageInfo.length");
    if (o < 0 || n < 0) fail_format(src, "'", fqn, "': negative storage offset or length");
    w.offset = static_cast<uint64_t>(o);
    w.length = static_cast<uint64_t>(n);
    const Node* transforms = pickle::object_attr(info, "transform_descriptors");
    if (transforms && transforms->kind != Kind::kNone && !transforms->items.empty())
      fail(Status::kUnsupported, src, ": '", fqn, "' is stored through DCP transforms (compression or encryption)");
    const std::string full = join_path(directory_, w.file);
    auto fs = file_sizes.find(w.file);
    if (fs == file_sizes.end()) {
      if (!is_regular_file(full)) fail(Status::kNotFound, src, ": data file ", full, " is missing");
      fs = file_sizes.emplace(w.file, file_size(full)).first;
    }
    if (w.offset > fs->second || w.length > fs->second - w.offset)
      fail_format(full, "'", fqn, "' at [", w.offset, ", +", w.length, ") runs past the end of the file (", fs->second,
                  " bytes; truncated?), says ", src);
    auto [stored, inserted] = where.emplace(dims_key(fqn, offsets), w);
    if (!inserted) fail_format(src, "'", fqn, "' chunk ", offsets.to_string(), " is stored twice");
    if (w.length > 0) ranges.push_back({&stored->second, fqn});
  }
  // DCP writes items back to back: no two share bytes. (Together with the size check on chunks below,
  // this bounds what reading any tensor can allocate by the size of the data files.)
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.w->file != b.w->file ? a.w->file < b.w->file : a.w->offset < b.w->offset;
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const Range &a = ranges[i - 1], &b = ranges[i];
    if (a.w->file == b.w->file && a.w->offset + a.w->length > b.w->offset)
      fail_format(src, "items '", a.fqn, "' and '", b.fqn, "' overlap in ", a.w->file);
  }

  for (size_t i = 0; i + 1 < sdm->items.size(); i += 2) {
    const std::string& key = pickle::as_string(sdm->items[i], src, "state_dict_metadata key");
    check_key_length(key, src);
    const Node* m = sdm->items[i + 1];
    std::string cls = m->qualified_name();
    if (cls == std::string(kDcp) + "BytesStorageMetadata") {
      auto it = where.find(dims_key(key, Dims{}));
      if (it == where.end()) fail_format(src, "bytes item '", key, "' has no storage entry");
      bytes_index_[key] = bytes_.size();
      bytes_.push_back({key, it->second.file, it->second.offset, it->second.length});
      continue;
    }
    if (cls != std::string(kDcp) + "TensorStorageMetadata")
      fail_format(src, "'", key, "' has unknown storage metadata '", cls, "'");
    DistTensor t;
    t.key = key;
    const Node* props = pickle::object_attr(m, "properties");
    const Node* dt = nullptr;
    if (props && props->kind == Kind::kObject && props->state) {
      // torch >= 2.3 pickles the state as a tuple (dtype, layout, requires_grad, memory format, pinned)
      if (props->state->kind == Kind::kTuple && !props->state->items.empty()) dt = props->state->items[0];
      else dt = pickle::dict_get(props->state, "dtype");
    }
    if (!dt || dt->kind != Kind::kDType) fail_format(src, "'", key, "' has no dtype in its TensorProperties");
    t.dtype = dt->dtype;
    t.shape = pickle::as_dims(pickle::object_attr(m, "size"), src, "size of '" + key + "'");
    const Node* chunks = pickle::object_attr(m, "chunks");
    if (!chunks || chunks->kind != Kind::kList) fail_format(src, "'", key, "' has no chunk list");
    std::vector<std::pair<Dims, Dims>> boxes;
    for (const Node* c : chunks->items) {
      DistChunk chunk;
      chunk.offsets = pickle::as_dims(pickle::object_attr(c, "offsets"), src, "chunk offsets of '" + key + "'");
      chunk.sizes = pickle::as_dims(pickle::object_attr(c, "sizes"), src, "chunk sizes of '" + key + "'");
      auto it = where.find(dims_key(key, chunk.offsets));
      if (it == where.end())
        fail_format(src, "'", key, "' chunk at ", chunk.offsets.to_string(), " has no storage entry");
      chunk.file = it->second.file;
      chunk.offset = it->second.offset;
      chunk.length = it->second.length;
      // a chunk's item is a torch.save archive holding at least the chunk's elements
      uint64_t nbytes;
      if (!checked_nbytes(chunk.sizes, dtype_size(t.dtype), &nbytes) || nbytes > chunk.length)
        fail_format(src, "'", key, "' chunk at ", chunk.offsets.to_string(), " of ", dtype_name(t.dtype),
                    chunk.sizes.to_string(), " cannot fit in its ", chunk.length, "-byte item in ", chunk.file);
      boxes.emplace_back(chunk.offsets, chunk.sizes);
      t.chunks.push_back(std::move(chunk));
    }
    try {
      check_chunks_tile(t.shape, boxes, "'" + key + "'");
    } catch (const Error& e) {
      fail_format(src, e.message());
    }
    tensor_index_[key] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
}

const DistTensor* TorchDistCheckpoint::find(std::string_view key) const {
  auto it = tensor_index_.find(std::string(key));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const DistBytes* TorchDistCheckpoint::find_bytes(std::string_view key) const {
  auto it = bytes_index_.find(std::string(key));
  return it == bytes_index_.end() ? nullptr : &bytes_[it->second];
}

void TorchDistCheckpoint::drop_pages() const {
  std::lock_guard<std::mutex> lock(files_mutex_);
  for (auto& [name, f] : files_) f->drop_pages();
}

std::shared_ptr<MappedFile> TorchDistCheckpoint::mapped(const std::string& relative) const {
  std::lock_guard<std::mutex> lock(files_mutex_);
  auto it = files_.find(relative);
  if (it != files_.end()) return it->second;
  auto f = MappedFile::open(join_path(directory_, relative));
  files_.emplace(relative, f);
  return f;
}

Tensor TorchDistCheckpoint::read_chunk(const DistTensor& t, const DistChunk& c) const {
  std::string source = cat(join_path(directory_, c.file), " (item '", t.key, "' chunk ", c.offsets.to_string(), ")");
  auto archive = TorchSaveFile::open_range(mapped(c.file), c.offset, c.length, source, options_);
  const pickle::Node* root = archive->root();
  if (root->kind != pickle::Kind::kTensor) fail_format(source, "holds a ", pickle::kind_name(root->kind), ", not a tensor");
  Tensor chunk = archive->tensor(root);
  if (chunk.dtype() != t.dtype || chunk.shape() != c.sizes)
    fail_format(source, "holds ", chunk.describe(), " where the metadata promises ", dtype_name(t.dtype),
                c.sizes.to_string());
  return chunk;
}

Tensor TorchDistCheckpoint::read_region(const std::string& key, const Dims& start, const Dims& size) const {
  const DistTensor* t = find(key);
  if (!t) fail(Status::kNotFound, directory_, ": no tensor '", key, "'");
  if (start.size() != t->shape.size() || size.size() != t->shape.size())
    fail(Status::kInvalidArgument, "region of '", key, "' needs ", t->shape.size(), " dimensions");
  for (int d = 0; d < t->shape.size(); ++d)
    if (start[d] < 0 || size[d] < 0 || start[d] > t->shape[d] || size[d] > t->shape[d] - start[d])
      fail(Status::kInvalidArgument, "region ", start.to_string(), " + ", size.to_string(), " lies outside '", key, "' ",
           t->shape.to_string());
  // A region inside one chunk is a view of the mapped file: no copy (the writers copy when they need to).
  for (const DistChunk& c : t->chunks) {
    bool inside = true;
    for (int d = 0; d < t->shape.size() && inside; ++d)
      inside = start[d] >= c.offsets[d] && start[d] + size[d] <= c.offsets[d] + c.sizes[d];
    if (!inside) continue;
    Tensor view = read_chunk(*t, c);
    for (int d = 0; d < t->shape.size(); ++d) view = view.narrow(d, start[d] - c.offsets[d], size[d]);
    return view;
  }
  Tensor out = Tensor::empty(t->dtype, size);
  for (const DistChunk& c : t->chunks) {
    Dims lo = start, len = size;
    bool empty = false;
    for (int d = 0; d < t->shape.size(); ++d) {
      int64_t a = std::max(start[d], c.offsets[d]);
      int64_t b = std::min(start[d] + size[d], c.offsets[d] + c.sizes[d]);
      if (b <= a) empty = true;
      lo[d] = a;
      len[d] = b - a;
    }
    if (empty) continue;
    Tensor src = read_chunk(*t, c);
    Tensor dst = out;
    for (int d = 0; d < t->shape.size(); ++d) {
      src = src.narrow(d, lo[d] - c.offsets[d], len[d]);
      dst = dst.narrow(d, lo[d] - start[d], len[d]);
    }
    dst.copy_from(src);
  }
  return out;
}

void TorchDistCheckpoint::prefetch_region(const std::string& key, const Dims& start, const Dims& size) const {
  const DistTensor* t = find(key);
  if (!t || start.size() != t->shape.size() || size.size() != t->shape.size()) return;
  for (const DistChunk& c : t->chunks) {
    bool overlaps = true;
    for (int d = 0; d < t->shape.size() && overlaps; ++d)
      overlaps = start[d] < c.offsets[d] + c.sizes[d] && c.offsets[d] < start[d] + size[d];
    if (overlaps) mapped(c.file)->will_need(c.offset, c.length);
  }
}

Tensor TorchDistCheckpoint::read(const std::string& key) const {
  const DistTensor* t = find(key);
  if (!t) fail(Status::kNotFound, directory_, ": no tensor '", key, "'");
  // A tensor stored as one chunk is returned without a copy.
  if (t->chunks.size() == 1 && t->chunks[0].sizes == t->shape) return read_chunk(*t, t->chunks[0]);
  Dims zero = t->shape;
  for (int d = 0; d < zero.size(); ++d) zero[d] = 0;
  return read_region(key, zero, t->shape);
}

ByteView TorchDistCheckpoint::read_bytes(const DistBytes& item) const {
  auto f = mapped(item.file);
  if (!f->bytes().contains(item.offset, item.length))
    fail_format(f->path(), "item '", item.key, "' lies past the end of the file");
  return f->bytes().sub(item.offset, item.length);
}

std::shared_ptr<TorchSaveFile> TorchDistCheckpoint::open_bytes_as_torch_save(const DistBytes& item) const {
  return TorchSaveFile::open_range(mapped(item.file), item.offset, item.length,
                                   cat(join_path(directory_, item.file), " (item '", item.key, "')"), options_);
}

TorchDistCheckpoint::CommonState TorchDistCheckpoint::common_state() const {
  CommonState c;
  const std::string legacy = join_path(directory_, kCommonPt);
  if (is_regular_file(legacy)) {
    c.file = TorchSaveFile::open(legacy, options_);
    c.state = c.file->root();
  } else if (const DistBytes* item = find_bytes(kCommonStateKey)) {
    c.file = open_bytes_as_torch_save(*item);
    const pickle::Node* root = c.file->root();
    if (root->kind != pickle::Kind::kList || root->items.size() != 1)
      fail_format(c.file->source(), "common state is not the one-element list Megatron-Core writes");
    c.state = root->items[0];
  } else {
    return c;
  }
  if (c.state->kind != pickle::Kind::kDict) fail_format(c.file->source(), "common state is not a dict");
  return c;
}

// ---- writing -------------------------------------------------------------------------------------------

namespace {
std::atomic<uint64_t> g_writer_counter{0};
}

TorchDistWriter::TorchDistWriter(std::string iteration_dir, int num_files, DistWriteOptions options)
    : final_dir_(std::move(iteration_dir)), options_(options) {
  if (num_files < 1) fail(Status::kInvalidArgument, "a torch_dist checkpoint needs at least one data file");
  while (!final_dir_.empty() && final_dir_.back() == '/') final_dir_.pop_back();
  if (path_exists(final_dir_)) fail(Status::kInvalidArgument, final_dir_, ": already exists; refusing to overwrite it");
  temp_dir_ = cat(final_dir_, ".incomplete-", ::getpid(), "-", g_writer_counter++);
  make_directories(temp_dir_);
  for (int i = 0; i < num_files; ++i) {
    file_names_.push_back(cat("__", i, "_0.distcp"));
    files_.push_back(std::make_unique<OutputFile>(join_path(temp_dir_, file_names_.back())));
  }
}

TorchDistWriter::~TorchDistWriter() {
  if (!finished_) {
    files_.clear();  // removes the temporary data files
    remove_tree(temp_dir_);
  }
}

void TorchDistWriter::add_chunk(const std::string& key, const Dims& global_shape, const Dims& offsets,
                                const Tensor& chunk, int file_index) {
  if (file_index < 0 || file_index >= static_cast<int>(files_.size()))
    fail(Status::kInvalidArgument, "file index ", file_index, " out of range");
  if (offsets.size() != global_shape.size() || chunk.ndim() != global_shape.size())
    fail(Status::kInvalidArgument, "'", key, "': chunk ", chunk.describe(), " at ", offsets.to_string(),
         " does not match global shape ", global_shape.to_string());
  auto it = tensors_.find(key);
  if (it == tensors_.end()) {
    it = tensors_.emplace(key, TensorMeta{chunk.dtype(), global_shape, {}}).first;
    tensor_order_.push_back(key);
  } else if (it->second.dtype != chunk.dtype() || it->second.shape != global_shape) {
    fail(Status::kInvalidArgument, "'", key, "': chunks disagree on dtype or global shape");
  }
  OutputFile& f = *files_[static_cast<size_t>(file_index)];
  uint64_t start = f.position();
  TorchSaveWriter w;
  w.write(f, w.tensor(chunk.contiguous()), {});
  it->second.items.push_back(items_.size());
  items_.push_back({key, false, offsets, file_index, start, f.position() - start, chunk.shape()});
}

void TorchDistWriter::add_tensor(const std::string& key, const Tensor& tensor, int dim, int parts) {
  if (tensor.ndim() == 0 || parts <= 1) {
    Dims zero = tensor.shape();
    for (int d = 0; d < zero.size(); ++d) zero[d] = 0;
    add_chunk(key, tensor.shape(), zero, tensor, 0);
    return;
  }
  if (dim < 0 || dim >= tensor.ndim()) fail(Status::kInvalidArgument, "split dimension ", dim, " out of range");
  const int64_t extent = tensor.size(dim);
  parts = static_cast<int>(std::min<int64_t>(parts, std::max<int64_t>(extent, 1)));
  for (int p = 0; p < parts; ++p) {
    int64_t a = extent * p / parts, b = extent * (p + 1) / parts;
    Dims offsets = tensor.shape();
    for (int d = 0; d < offsets.size(); ++d) offsets[d] = 0;
    offsets[dim] = a;
    add_chunk(key, tensor.shape(), offsets, tensor.narrow(dim, a, b - a), p % static_cast<int>(files_.size()));
  }
}

void TorchDistWriter::add_bytes(const std::string& key, const std::string& bytes, int file_index) {
  if (file_index < 0 || file_index >= static_cast<int>(files_.size()))
    fail(Status::kInvalidArgument, "file index ", file_index, " out of range");
  for (const Item& i : items_)
    if (i.is_bytes && i.key == key) fail(Status::kInvalidArgument, "bytes item '", key, "' added twice");
  OutputFile& f = *files_[static_cast<size_t>(file_index)];
  uint64_t start = f.position();
  f.write_string(bytes);
  bytes_order_.push_back(key);
  items_.push_back({key, true, Dims{}, file_index, start, bytes.size(), Dims{}});
}

void TorchDistWriter::set_common_state(TorchSaveWriter& writer, pickle::Node* state) {
  MemorySink sink;
  TorchSaveWriteOptions o;
  if (options_.common_pt) {
    o.archive_name = "common";
    writer.write(sink, state, o);
  } else {
    writer.write(sink, writer.doc().list({state}), o);
  }
  common_state_.assign(sink.bytes().begin(), sink.bytes().end());
  has_common_state_ = true;
}

std::string TorchDistWriter::finish() {
  using pickle::Node;
  if (finished_) fail(Status::kInternal, "TorchDistWriter::finish called twice");
  if (has_common_state_) {
    if (options_.common_pt) write_file_atomic(join_path(temp_dir_, kCommonPt), common_state_);
    else add_bytes(kCommonStateKey, common_state_, 0);
  }
  for (const std::string& key : tensor_order_) {
    const TensorMeta& t = tensors_.at(key);
    std::vector<std::pair<Dims, Dims>> boxes;
    for (size_t i : t.items) boxes.emplace_back(items_[i].offsets, items_[i].sizes);
    check_chunks_tile(t.shape, boxes, "'" + key + "'");
  }
  for (auto& f : files_) f->commit(options_.fsync);

  // .metadata, shaped exactly as torch.distributed.checkpoint pickles it
  pickle::Document doc;
  auto cls = [&](const char* module, const char* name) { return doc.global(module, name); };
  const std::string dcp = "torch.distributed.checkpoint.metadata";
  Node* tsm_cls = cls(dcp.c_str(), "TensorStorageMetadata");
  Node* bsm_cls = cls(dcp.c_str(), "BytesStorageMetadata");
  Node* props_cls = cls(dcp.c_str(), "TensorProperties");
  Node* chunk_cls = cls(dcp.c_str(), "ChunkStorageMetadata");
  Node* index_cls = cls(dcp.c_str(), "MetadataIndex");
  Node* info_cls = cls("torch.distributed.checkpoint.filesystem", "_StorageInfo");
  Node* layout = doc.object(cls("torch.serialization", "_get_layout"), doc.tuple({doc.string("torch.strided")}));
  Node* contiguous = doc.object(cls(dcp.c_str(), "_MEM_FORMAT_ENCODING"), doc.tuple({doc.integer(0)}));
  auto newobj = [&](Node* c, Node* state) {
    Node* o = doc.object(c, doc.tuple(), state);
    o->via_newobj = true;
    return o;
  };
  auto str_dict = [&](std::vector<std::pair<const char*, Node*>> kv) {
    Node* d = doc.dict();
    for (auto& [k, v] : kv) doc.dict_set(d, doc.string(k), v);
    return d;
  };

  Node* sdm = doc.dict();
  for (const std::string& key : tensor_order_) {
    const TensorMeta& t = tensors_.at(key);
    Node* props = newobj(props_cls, doc.tuple({doc.dtype(t.dtype), layout, doc.boolean(false), contiguous, doc.boolean(false)}));
    Node* chunks = doc.list();
    for (size_t i : t.items)
      chunks->items.push_back(newobj(chunk_cls, str_dict({{"offsets", doc.size(items_[i].offsets)},
                                                           {"sizes", doc.size(items_[i].sizes)}})));
    doc.dict_set(sdm, doc.string(key),
                 newobj(tsm_cls, str_dict({{"properties", props}, {"size", doc.size(t.shape)}, {"chunks", chunks}})));
  }
  for (const std::string& key : bytes_order_) doc.dict_set(sdm, doc.string(key), newobj(bsm_cls, nullptr));

  Node* storage = doc.dict();
  for (const Item& i : items_) {
    Node* index = i.is_bytes ? newobj(index_cls, str_dict({{"fqn", doc.string(i.key)}, {"index", doc.none()}}))
                             : newobj(index_cls, str_dict({{"fqn", doc.string(i.key)}, {"index", doc.none()},
                                                           {"offset", doc.size(i.offsets)}}));
    Node* info = newobj(info_cls, str_dict({{"relative_path", doc.string(file_names_[static_cast<size_t>(i.file)])},
                                            {"offset", doc.integer(static_cast<int64_t>(i.offset))},
                                            {"length", doc.integer(static_cast<int64_t>(i.length))}}));
    doc.dict_set(storage, index, info);
  }
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  Node* storage_meta = newobj(cls(dcp.c_str(), "StorageMeta"),
                              str_dict({{"checkpoint_id", doc.string(final_dir_)},
                                        {"save_id", doc.string(cat("mbridge-", ::getpid(), "-", now))},
                                        {"load_id", doc.none()},
                                        {"modules", doc.list()}}));
  Node* root = newobj(cls(dcp.c_str(), "Metadata"),
                      str_dict({{"state_dict_metadata", sdm},
                                {"planner_data", doc.none()},
                                {"storage_data", storage},
                                {"storage_meta", storage_meta},
                                {"version", doc.string("1.0.0")}}));
  pickle::WriteOptions wo;
  wo.protocol = options_.metadata_pickle_protocol;
  write_file_atomic(join_path(temp_dir_, kMetadataFile), pickle::write(root, wo));
  write_file_atomic(join_path(temp_dir_, kMetadataJson),
                    "{\"sharded_backend\": \"torch_dist\", \"sharded_backend_version\": 1}");
  rename_path(temp_dir_, final_dir_);
  finished_ = true;
  return final_dir_;
}

}  // namespace mb
