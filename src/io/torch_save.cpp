#include "io/torch_save.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "core/error.h"
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
  ro.persistent_load = [pkl_source](pickle::Document& doc, pickle::Node* pid) -> pickle::Node* {
    if (pid->kind != pickle::Kind::kTuple || pid->items.size() != 5 || pid->items[0]->kind != pickle::Kind::kString ||
        pid->items[0]->text != "storage")
      fail_format(pkl_source, "persistent id is not a ('storage', type, key, location, size) tuple");
    const pickle::Node* type = pid->items[1];
    if (type->kind != pickle::Kind::kGlobal) fail_format(pkl_source, "storage type is not a class");
    pickle::Node* s = doc.make(pickle::Kind::kStorage);
    if (auto d = dtype_from_storage_class(type->name)) s->dtype = *d;
    else if (type->name == "UntypedStorage") s->dtype = DType::U8;
    else fail_format(pkl_source, "unsupported storage type '", type->qualified_name(), "'");
    s->text = pickle::as_string(pid->items[2], pkl_source, "storage key");
    s->name = pickle::as_string(pid->items[3], pkl_source, "storage location");
    s->integer = pickle::as_int(pid->items[4], pkl_source, "storage size");
    if (s->integer < 0) fail_format(pkl_source, "negative storage size");
    check_relative_name(s->text, pkl_source, false);
    return s;
  };
  doc_ = pickle::read(zip_->data(*pkl), pkl_source, ro);
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
  auto storage = Storage::borrow(b.data, static_cast<size_t>(nbytes), file_);
  storages_.emplace(s->text, storage);
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

namespace {
void collect(const pickle::Node* node, const std::string& path, int depth,
             std::vector<std::pair<std::string, const pickle::Node*>>& out) {
  if (depth > pickle::kMaxTraversalDepth) fail(Status::kFormat, "object nested too deeply at '", path, "'");
  using pickle::Kind;
  auto join = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
  switch (node->kind) {
    case Kind::kTensor: out.emplace_back(path, node); break;
    case Kind::kDict:
      for (size_t i = 0; i + 1 < node->items.size(); i += 2) {
        const pickle::Node* k = node->items[i];
        std::string key = k->kind == Kind::kString ? k->text
                          : k->kind == Kind::kInt  ? std::to_string(k->integer)
                                                   : std::string("?");
        collect(node->items[i + 1], join(key), depth + 1, out);
      }
      break;
    case Kind::kList:
    case Kind::kTuple:
      for (size_t i = 0; i < node->items.size(); ++i) collect(node->items[i], join(std::to_string(i)), depth + 1, out);
      break;
    default: break;
  }
}
}  // namespace

std::vector<std::pair<std::string, const pickle::Node*>> collect_tensors(const pickle::Node* node,
                                                                        const std::string& prefix) {
  std::vector<std::pair<std::string, const pickle::Node*>> out;
  if (node) collect(node, prefix, 0, out);
  return out;
}

// ---- writing ----------------------------------------------------------------------------------------------

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

  pickle::WriteOptions wo;
  wo.protocol = options.pickle_protocol;
  pickle::Document pid_doc;
  std::unordered_map<const pickle::Node*, pickle::Node*> pids;
  wo.persistent_id = [&](const pickle::Node* s) -> pickle::Node* {
    auto it = pids.find(s);
    if (it != pids.end()) return it->second;
    pickle::Node* pid = pid_doc.tuple({pid_doc.string("storage"), pid_doc.global("torch", dtype_storage_class(s->dtype)),
                                       pid_doc.string(s->text), pid_doc.string(s->name), pid_doc.integer(s->integer)});
    pids[s] = pid;
    return pid;
  };
  std::string pkl = pickle::write(root, wo);

  // Restore the offsets so the writer can be used again.
  for (pickle::Node* node : nodes) node->storage_offset += range[std::stoul(node->storage->text)].first;

  const std::string& a = options.archive_name;
  ZipWriteOptions zo;
  zo.force_zip64 = options.force_zip64;
  ZipWriter zip(sink, zo);
  zip.add(a + "/data.pkl", pkl);
  zip.add(a + "/.format_version", std::string("1"));
  zip.add(a + "/.storage_alignment", std::string("64"));
  zip.add(a + "/byteorder", std::string("little"));
  uint32_t crc_all = crc32_of(pkl.data(), pkl.size());
  for (size_t i = 0; i < storages_.size(); ++i) {
    const StorageEntry& s = storages_[i];
    const size_t es = dtype_size(s.node->dtype);
    const uint8_t* base = static_cast<const uint8_t*>(s.bytes.data()) + range[i].first * es;
    size_t n = static_cast<size_t>(range[i].second - range[i].first) * es;
    zip.add(a + "/data/" + s.key, base, n);
    crc_all = crc32_of(base, std::min<size_t>(n, 4096), crc_all);
  }
  zip.add(a + "/version", std::string("3\n"));
  // torch records a 40-digit id; ours is derived from the content so identical saves are identical files
  std::string id = std::to_string(crc_all) + std::to_string(pkl.size()) + std::to_string(storages_.size());
  id = std::string(40 - std::min<size_t>(id.size(), 40), '0') + id.substr(0, 40);
  zip.add(a + "/.data/serialization_id", id);
  zip.finish();
}

void TorchSaveWriter::write_file(const std::string& path, const pickle::Node* root, TorchSaveWriteOptions options) {
  OutputFile out(path);
  write(out, root, options);
  out.commit();
}

}  // namespace mb
