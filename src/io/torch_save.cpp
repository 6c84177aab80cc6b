#include "io/torch_save.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "core/error.h"
#include "core/lazy_image.h"
#include "core/paths.h"
#include "io/pickle_writer.h"

namespace mb {

// ---- reading ------------------------------------------------------------------------------------------

std::shared_ptr<TorchSaveFile> TorchSaveFile::open(const std::string& path, const TorchLoadOptions& options) {
  std::shared_ptr<TorchSaveFile> f(new TorchSaveFile());
  f->file_ = MappedFile::open(path);
  f->archive_ = f->file_->bytes();
  f->source_ = path;
  f->load(options);
  return f;
}

std::shared_ptr<TorchSaveFile> TorchSaveFile::open_range(std::shared_ptr<MappedFile> file, uint64_t offset,
                                                         uint64_t length, const std::string& source,
                                                         const TorchLoadOptions& options) {
  if (!file->bytes().contains(offset, length))
    fail_format(source, "item at offset ", offset, " (", length, " bytes) lies past the end of ", file->path(),
                " (", file->size(), " bytes)");
  std::shared_ptr<TorchSaveFile> f(new TorchSaveFile());
  f->file_ = std::move(file);
  f->archive_ = f->file_->bytes().sub(offset, length);
  f->source_ = source;
  f->load(options);
  return f;
}

void TorchSaveFile::load(const TorchLoadOptions& options) {
  if (archive_.size >= 2 && archive_.data[0] == 0x80 && archive_.data[1] <= 5)
    fail_format(source_, "this is the legacy (pre torch 1.6) torch.save format; re-save it with a newer torch");
  if (archive_.size < 4 || std::memcmp(archive_.data, "PK\x03\x04", 4) != 0)
    fail_format(source_, "not a torch.save file (no zip archive)");
  zip_ = std::make_unique<ZipReader>(archive_, source_);
  if (zip_->entries().empty()) fail_format(source_, "empty zip archive");
  const std::string& first = zip_->entries().front().name;
  size_t slash = first.find('/');
  prefix_ = slash == std::string::npos ? "" : first.substr(0, slash + 1);
  const ZipEntry* pkl = zip_->find(prefix_ + "data.pkl");
  if (!pkl) fail_format(source_, "no ", prefix_, "data.pkl entry: not a torch.save archive");
  if (const ZipEntry* bo = zip_->find(prefix_ + "byteorder")) {
    ByteView b = zip_->data(*bo);
    if (std::string(reinterpret_cast<const char*>(b.data), b.size) != "little")
      fail_format(source_, "big-endian torch archives are not supported");
  }
  if (options.verify_crc)
    for (const ZipEntry& e : zip_->entries()) zip_->verify_crc(e);

  pickle::ReadOptions ro = options.pickle;
  const std::string pkl_source = source_ + " (" + pkl->name + ")";
  ro.persistent_load = torch_persistent_load(pkl_source);
  doc_ = pickle::read(zip_->data(*pkl), pkl_source, ro);
}

pickle::PersistentLoad torch_persistent_load(const std::string& pkl_source) {
  return [pkl_source](pickle::Document& doc, pickle::Node* pid) -> pickle::Node* {
    if (pid->kind != pickle::Kind::kTuple || pid->items.size() != 5 || pid->items[0]->kind != pickle::Kind::kString ||
        pid->items[0]->text != "storage")
      fail_format(pkl_source, "persistent id is not a ('storage', type, key, location, size) tuple");
    const pickle::Node* type = pid->items[1];
    if (type->kind != pickle::Kind::kGlobal) fail_format(pkl_source, "storage type is not a class");
    pickle::Node* s = doc.make(pickle::Kind::kStorage);
    if (auto d = dtype_from_storage_class(type->name)) s->dtype = *d;
    else if (type->name == "UntypedStorage") s->dtype = DType::U8;
    else fail_format(pkl_source, "unsupported storage type '", type->qualified_name(), "'");
    // checked before they are copied: a memoised huge string must not be copied once per storage
    const std::string& key = pickle::as_string(pid->items[2], pkl_source, "storage key");
    const std::string& location = pickle::as_string(pid->items[3], pkl_source, "storage location");
    check_relative_name(key, pkl_source, false);
    if (location.size() > 256) fail_format(pkl_source, "storage location longer than 256 bytes");
    s->text = key;
    s->name = location;
    s->integer = pickle::as_int(pid->items[4], pkl_source, "storage size");
    if (s->integer < 0) fail_format(pkl_source, "negative storage size");
    return s;
  };
}

std::shared_ptr<Storage> TorchSaveFile::storage_for(const pickle::Node* s) const {
  auto it = storages_.find(s->text);
  if (it != storages_.end()) return it->second;
  const std::string entry_name = prefix_ + "data/" + s->text;
  const ZipEntry* e = zip_->find(entry_name);
  if (!e) fail_format(source_, "storage '", s->text, "' has no entry ", entry_name);
  uint64_t nbytes;
  if (__builtin_mul_overflow(static_cast<uint64_t>(s->integer), dtype_size(s->dtype), &nbytes) || nbytes > e->size)
    fail_format(source_, "storage '", s->text, "' claims ", s->integer, " elements of ", dtype_name(s->dtype),
                " but its entry holds ", e->size, " bytes");
  ByteView b = zip_->data(*e);
  // A file inside a bundle produces a storage's bytes when pinned; the pin then keeps them for the views.
  std::shared_ptr<const void> owner = pin_bytes(b.data, static_cast<size_t>(nbytes));
  auto storage = Storage::borrow(b.data, static_cast<size_t>(nbytes), owner ? std::move(owner) : file_);
  storages_[s->text] = storage;
  return storage;
}

Tensor TorchSaveFile::tensor(const pickle::Node* node) const {
  if (!node || node->kind != pickle::Kind::kTensor) fail(Status::kInternal, "TorchSaveFile::tensor of a non-tensor");
  auto storage = storage_for(node->storage);
  uint64_t byte_offset;
  if (__builtin_mul_overflow(static_cast<uint64_t>(node->storage_offset), dtype_size(node->dtype), &byte_offset))
    fail_format(source_, "tensor storage offset overflows");
  try {
    return Tensor::from_storage(storage, static_cast<size_t>(byte_offset), node->dtype, node->shape, node->strides);
  } catch (const Error& e) {
    fail_format(source_, "tensor on storage '", node->storage->text, "': ", e.message());
  }
}

std::vector<TorchSaveFile::StorageRegion> TorchSaveFile::storage_regions() const {
  std::vector<StorageRegion> out;
  std::unordered_set<std::string> seen;
  for (const auto& [path, node] : collect_tensors(doc_.root, "", source_)) {
    const pickle::Node* s = node->storage;
    if (!s || !seen.insert(s->text).second) continue;
    const ZipEntry* e = zip_->find(prefix_ + "data/" + s->text);
    if (!e || e->size == 0) continue;
    ByteView b = zip_->data(*e);
    out.push_back({path, s->dtype, static_cast<uint64_t>(b.data - file_->data()), e->size});
  }
  return out;
}

namespace {
// Walks dicts, lists and tuples. A container reached again (shared through the pickle memo, or a cycle)
// is expanded only the first time, so hostile sharing (x = [x0, x0], ... doubled 60 times) costs linear
// time; tensors reached through several containers keep every name (tied weights). Names are bounded,
// so a long key shared through the memo cannot multiply into gigabytes of names.
class Collector {
 public:
  Collector(const std::string& source, std::vector<std::pair<std::string, const pickle::Node*>>& out)
      : source_(source), out_(out) {}

  void collect(const pickle::Node* node, const std::string& path, int depth) {
    using pickle::Kind;
    if (depth > pickle::kMaxTraversalDepth) error("object nested more than ", pickle::kMaxTraversalDepth, " levels deep at '", path, "'");
    auto join = [&](const std::string& k) {
      std::string p = path.empty() ? k : path + "." + k;
      if (p.size() > kMaxName) error("tensor path longer than ", kMaxName, " bytes at '", path, "'");
      return p;
    };
    switch (node->kind) {
      case Kind::kTensor:
        name_bytes_ += path.size();
        if (name_bytes_ > kMaxNameBytes) error("tensor names take more than ", kMaxNameBytes, " bytes");
        out_.emplace_back(path, node);
        break;
      case Kind::kDict:
        if (!expanded_.insert(node).second) break;
        for (size_t i = 0; i + 1 < node->items.size(); i += 2) {
          const pickle::Node* k = node->items[i];
          std::string key = k->kind == Kind::kString ? k->text
                            : k->kind == Kind::kInt  ? std::to_string(k->integer)
                                                     : std::string("?");
          collect(node->items[i + 1], join(key), depth + 1);
        }
        break;
      case Kind::kList:
      case Kind::kTuple:
        if (!expanded_.insert(node).second) break;
        for (size_t i = 0; i < node->items.size(); ++i) collect(node->items[i], join(std::to_string(i)), depth + 1);
        break;
      default: break;
    }
  }

 private:
  static constexpr size_t kMaxName = 16384;
  static constexpr size_t kMaxNameBytes = size_t(256) << 20;

  template <class... Parts>
  [[noreturn]] void error(const Parts&... parts) {
    std::string message = cat(parts...);
    if (message.size() > 400) message = message.substr(0, 400) + "...";  // a hostile path can be long
    if (source_.empty()) fail(Status::kFormat, message);
    fail_format(source_, message);
  }

  const std::string& source_;
  std::vector<std::pair<std::string, const pickle::Node*>>& out_;
  std::unordered_set<const pickle::Node*> expanded_;
  size_t name_bytes_ = 0;
};
}  // namespace

std::vector<std::pair<std::string, const pickle::Node*>> collect_tensors(const pickle::Node* node,
                                                                        const std::string& prefix,
                                                                        const std::string& source) {
  std::vector<std::pair<std::string, const pickle::Node*>> out;
  if (node) Collector(source, out).collect(node, prefix, 0);
  return out;
}

// ---- writing ----------------------------------------------------------------------------------------------

namespace {

// The pickle of `root`, whose kStorage nodes become torch's persistent ids
// ('storage', torch.<Type>Storage or torch.storage.UntypedStorage, key, location, numel).
std::string pickle_with_storage_ids(const pickle::Node* root, int protocol) {
  pickle::WriteOptions wo;
  wo.protocol = protocol;
  pickle::Document pid_doc;
  std::unordered_map<const pickle::Node*, pickle::Node*> pids;
  wo.persistent_id = [&](const pickle::Node* s) -> pickle::Node* {
    auto it = pids.find(s);
    if (it != pids.end()) return it->second;
    const char* typed = dtype_storage_class(s->dtype);
    pickle::Node* cls = typed ? pid_doc.global("torch", typed) : pid_doc.global("torch.storage", "UntypedStorage");
    int64_t numel = typed ? s->integer : s->integer * static_cast<int64_t>(dtype_size(s->dtype));  // untyped: bytes
    pickle::Node* pid = pid_doc.tuple({pid_doc.string("storage"), cls, pid_doc.string(s->text), pid_doc.string(s->name),
                                       pid_doc.integer(numel)});
    pids[s] = pid;
    return pid;
  };
  return pickle::write(root, wo);
}

// The small entries torch writes before the storages...
void add_version_entries(ZipWriter& zip, const std::string& a) {
  zip.add(a + "/.format_version", std::string("1"));
  zip.add(a + "/.storage_alignment", std::string("64"));
  zip.add(a + "/byteorder", std::string("little"));
}

// ...and after them. torch records a 40-digit serialization id; ours is derived from the content so
// identical saves give identical files.
void add_trailer_entries(ZipWriter& zip, const std::string& a, uint32_t content_crc, size_t pkl_size, size_t storages) {
  zip.add(a + "/version", std::string("3\n"));
  std::string id = std::to_string(content_crc) + std::to_string(pkl_size) + std::to_string(storages);
  id = std::string(40 - std::min<size_t>(id.size(), 40), '0') + id.substr(0, 40);
  zip.add(a + "/.data/serialization_id", id);
}

}  // namespace

namespace {
// Every distinct tensor node reachable from root, through containers and objects alike.
std::vector<pickle::Node*> reachable_tensors(const pickle::Node* root) {
  std::vector<pickle::Node*> tensors;
  std::unordered_set<const pickle::Node*> seen;
  std::vector<const pickle::Node*> todo{root};
  while (!todo.empty()) {
    const pickle::Node* n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n).second) continue;
    if (n->kind == pickle::Kind::kTensor) tensors.push_back(const_cast<pickle::Node*>(n));
    for (const pickle::Node* x : n->items) todo.push_back(x);
    for (const pickle::Node* x : n->dict_items) todo.push_back(x);
    for (const pickle::Node* x : {n->cls, n->args, n->kwargs, n->state}) todo.push_back(x);
  }
  return tensors;
}
}  // namespace

pickle::Node* TorchSaveWriter::tensor(const Tensor& input, bool requires_grad) {
  Tensor t = input.device().is_cpu() ? input : input.to(Device{});
  const size_t es = t.element_size();
  const Storage* key = t.storage().get();
  auto it = by_storage_.find(key);
  bool share = t.byte_offset() % es == 0 &&
               (it == by_storage_.end() || storages_[it->second].node->dtype == t.dtype());
  if (!share) {
    t = t.clone();
    key = t.storage().get();
    it = by_storage_.end();
  }
  size_t index;
  if (it == by_storage_.end()) {
    index = storages_.size();
    pickle::Node* s = doc_.make(pickle::Kind::kStorage);
    s->dtype = t.dtype();
    s->text = std::to_string(index);
    s->name = "cpu";
    storages_.push_back({s->text, s, Tensor()});
    by_storage_[key] = index;
    // Keep the storage alive through a byte view of all of it; trimmed to what tensors use at write().
    storages_[index].bytes = Tensor::from_storage(t.storage(), 0, DType::U8, Dims{int64_t(t.storage()->nbytes())});
  } else {
    index = it->second;
  }
  pickle::Node* n = doc_.make(pickle::Kind::kTensor);
  n->storage = storages_[index].node;
  n->dtype = t.dtype();
  n->storage_offset = static_cast<int64_t>(t.byte_offset() / es);
  n->shape = t.shape();
  n->strides = t.strides();
  n->requires_grad = requires_grad;
  return n;
}

void TorchSaveWriter::write(ByteSink& sink, const pickle::Node* root, const TorchSaveWriteOptions& options) {
  // Trim each storage to the element range its tensors reach, so a small view of a large buffer does
  // not drag the whole buffer into the file.
  std::vector<std::pair<int64_t, int64_t>> range(storages_.size(), {INT64_MAX, 0});
  std::vector<pickle::Node*> nodes = reachable_tensors(root);
  for (pickle::Node* node : nodes) {
    size_t index = std::stoul(node->storage->text);
    if (index >= storages_.size() || storages_[index].node != node->storage)
      fail(Status::kInternal, "torch.save writer: a tensor that was not made by this writer");
    int64_t last = node->storage_offset;
    int64_t numel = 1;
    for (int i = 0; i < node->shape.size(); ++i) {
      numel *= node->shape[i];
      last += (node->shape[i] - 1) * node->strides[i];
    }
    auto& r = range[index];
    if (numel == 0) last = node->storage_offset - 1;
    r.first = std::min(r.first, node->storage_offset);
    r.second = std::max(r.second, last + 1);
  }
  for (size_t i = 0; i < storages_.size(); ++i) {
    if (range[i].first == INT64_MAX) range[i] = {0, 0};
    if (range[i].second < range[i].first) range[i].second = range[i].first;
  }
  for (pickle::Node* node : nodes) node->storage_offset -= range[std::stoul(node->storage->text)].first;
  for (size_t i = 0; i < storages_.size(); ++i) storages_[i].node->integer = range[i].second - range[i].first;

  std::string pkl = pickle_with_storage_ids(root, options.pickle_protocol);

  // Restore the offsets so the writer can be used again.
  for (pickle::Node* node : nodes) node->storage_offset += range[std::stoul(node->storage->text)].first;

  const std::string& a = options.archive_name;
  ZipWriteOptions zo;
  zo.force_zip64 = options.force_zip64;
  ZipWriter zip(sink, zo);
  zip.add(a + "/data.pkl", pkl);
  add_version_entries(zip, a);
  uint32_t crc_all = crc32_of(pkl.data(), pkl.size());
  for (size_t i = 0; i < storages_.size(); ++i) {
    const StorageEntry& s = storages_[i];
    const size_t es = dtype_size(s.node->dtype);
    const uint8_t* base = static_cast<const uint8_t*>(s.bytes.data()) + range[i].first * es;
    size_t n = static_cast<size_t>(range[i].second - range[i].first) * es;
    zip.add(a + "/data/" + s.key, base, n);
    crc_all = crc32_of(base, std::min<size_t>(n, 4096), crc_all);
  }
  add_trailer_entries(zip, a, crc_all, pkl.size(), storages_.size());
  zip.finish();
}

void TorchSaveWriter::write_file(const std::string& path, const pickle::Node* root, TorchSaveWriteOptions options) {
  OutputFile out(path);
  write(out, root, options);
  out.commit();
}

pickle::Node* TorchSaveWriter::import(const TorchSaveFile& src, const pickle::Node* root) {
  std::unordered_map<const pickle::Node*, pickle::Node*> made;
  // iterative: an explicit stack of (original, copy) whose children still point at originals
  std::vector<pickle::Node*> pending;
  auto copy_of = [&](const pickle::Node* n) -> pickle::Node* {
    if (!n) return nullptr;
    auto it = made.find(n);
    if (it != made.end()) return it->second;
    pickle::Node* c;
    if (n->kind == pickle::Kind::kTensor) {
      c = tensor(src.tensor(n), n->requires_grad);
      c->is_parameter = n->is_parameter;
    } else {
      c = doc_.make(n->kind);
      *c = *n;
      pending.push_back(c);
    }
    made.emplace(n, c);
    return c;
  };
  pickle::Node* out = copy_of(root);
  while (!pending.empty()) {
    pickle::Node* c = pending.back();
    pending.pop_back();
    for (auto& x : c->items) x = copy_of(x);
    for (auto& x : c->dict_items) x = copy_of(x);
    c->cls = copy_of(c->cls);
    c->args = copy_of(c->args);
    c->kwargs = copy_of(c->kwargs);
    c->state = copy_of(c->state);
  }
  return out;
}

// ---- streaming --------------------------------------------------------------------------------------------

TorchSaveStream::TorchSaveStream(ByteSink& sink, std::string archive_name)
    : zip_(std::make_unique<ZipWriter>(sink)), archive_(std::move(archive_name)) {
  add_version_entries(*zip_, archive_);
}

TorchSaveStream::~TorchSaveStream() = default;

pickle::Node* TorchSaveStream::tensor(const Tensor& input, bool requires_grad) {
  if (finished_) fail(Status::kInternal, "TorchSaveStream: tensor() after finish()");
  Tensor t = input.device().is_cpu() ? input.contiguous() : input.to(Device{});
  const std::string key = std::to_string(storages_++);
  zip_->add(archive_ + "/data/" + key, t.numel() ? t.data() : nullptr, t.nbytes());
  if (t.nbytes()) crc_ = crc32_of(t.data(), std::min<size_t>(t.nbytes(), 4096), crc_);
  pickle::Node* s = doc_.make(pickle::Kind::kStorage);
  s->dtype = t.dtype();
  s->text = key;
  s->name = "cpu";
  s->integer = t.numel();
  pickle::Node* n = doc_.make(pickle::Kind::kTensor);
  n->storage = s;
  n->dtype = t.dtype();
  n->shape = t.shape();
  n->strides = contiguous_strides(t.shape());
  n->requires_grad = requires_grad;
  return n;
}

void TorchSaveStream::finish(const pickle::Node* root, int pickle_protocol) {
  if (finished_) fail(Status::kInternal, "TorchSaveStream: finish() twice");
  std::string pkl = pickle_with_storage_ids(root, pickle_protocol);
  zip_->add(archive_ + "/data.pkl", pkl);
  add_trailer_entries(*zip_, archive_, crc32_of(pkl.data(), pkl.size(), crc_), pkl.size(), storages_);
  zip_->finish();
  finished_ = true;
}

}  // namespace mb
