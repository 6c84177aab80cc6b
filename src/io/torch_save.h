// torch.save files (the zip format of torch >= 1.6): `<name>/data.pkl` holds the pickled object,
// `<name>/data/<key>` each storage's raw little-endian bytes, plus small version entries.
// Reading is zero-copy: tensors borrow from the mapped file, and tensors that shared a storage in
// Python share one Storage here. Writing produces archives torch.load(weights_only=True) accepts.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/byte_sink.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "io/pickle_reader.h"
#include "io/pickle_value.h"
#include "io/zip.h"

namespace mb {

struct TorchLoadOptions {
  bool verify_crc = false;  // check every entry's CRC-32 (reads all bytes once)
  pickle::ReadOptions pickle;  // extra allowed globals; persistent_load is set by the reader
};

class TorchSaveFile {
 public:
  static std::shared_ptr<TorchSaveFile> open(const std::string& path, const TorchLoadOptions& options = {});
  // An archive stored at [offset, offset+length) of a larger file (an item of a .distcp file).
  static std::shared_ptr<TorchSaveFile> open_range(std::shared_ptr<MappedFile> file, uint64_t offset,
                                                   uint64_t length, const std::string& source,
                                                   const TorchLoadOptions& options = {});

  const pickle::Node* root() const { return doc_.root; }
  const pickle::Document& document() const { return doc_; }
  const std::string& source() const { return source_; }
  // The tensor a kTensor node describes, borrowing the file's bytes.
  Tensor tensor(const pickle::Node* node) const;
  // Where the storages of the tensors reachable from the root lie in the mapped file (what a bundle
  // compresses as tensor data): byte range of each data/<key> entry, its dtype, and a tensor using it.
  struct StorageRegion {
    std::string tensor;
    DType dtype = DType::U8;
    uint64_t offset = 0;  // in the mapped file
    uint64_t length = 0;
  };
  std::vector<StorageRegion> storage_regions() const;
  // MappedFile::drop_pages, after forgetting the storages handed out so far (views keep their own).
  void drop_pages() const {
    storages_.clear();
    file_->drop_pages();
  }

 private:
  TorchSaveFile() = default;
  void load(const TorchLoadOptions& options);
  std::shared_ptr<Storage> storage_for(const pickle::Node* storage_node) const;

  std::shared_ptr<MappedFile> file_;
  ByteView archive_;
  std::string source_;
  std::string prefix_;  // "archive/" or whatever folder name torch.save used
  std::unique_ptr<ZipReader> zip_;
  pickle::Document doc_;
  // Storages handed out, so that views of one storage share it (as in Python); forgotten by drop_pages(),
  // which lets a file inside a bundle give back the bytes they pinned once no view holds them.
  mutable std::unordered_map<std::string, std::shared_ptr<Storage>> storages_;
};

// The persistent_load torch.save archives need: ('storage', <storage class>, key, location, numel) tuples
// become kStorage nodes (the key checked to be a plain file name); errors name `pkl_source`.
pickle::PersistentLoad torch_persistent_load(const std::string& pkl_source);

// Every tensor reachable through dicts, lists and tuples under `node`, with dotted paths
// ("model.decoder.layers.0.mlp.linear_fc1.weight"); `prefix` starts the path. A container shared by
// several parents is expanded once, at its first path. `source` (the file, e.g. TorchSaveFile::source())
// starts the message of the format error thrown for containers nested deeper than
// pickle::kMaxTraversalDepth, or for absurdly long tensor paths.
std::vector<std::pair<std::string, const pickle::Node*>> collect_tensors(const pickle::Node* node,
                                                                        const std::string& prefix = "",
                                                                        const std::string& source = "");

struct TorchSaveWriteOptions {
  std::string archive_name = "archive";  // torch uses "archive" for streams, the file stem for paths
  int pickle_protocol = 2;
  bool force_zip64 = false;
};

// Builds the object to save (in doc) and writes it with its storages.
class TorchSaveWriter {
 public:
  TorchSaveWriter() = default;
  pickle::Document& doc() { return doc_; }
  // A tensor node for t. Tensors that share an mb::Storage (of one dtype) are written sharing one
  // torch storage, views included; anything else gets its own storage holding exactly its elements.
  pickle::Node* tensor(const Tensor& t, bool requires_grad = false);
  // A deep copy of `node` (from a file we read) in this writer's document: tensors re-made through
  // tensor(), every other node copied, sharing between nodes kept.
  pickle::Node* import(const TorchSaveFile& src, const pickle::Node* node);
  void write(ByteSink& sink, const pickle::Node* root, const TorchSaveWriteOptions& options = {});
  // Writes to a temporary file renamed to `path` when complete.
  void write_file(const std::string& path, const pickle::Node* root, TorchSaveWriteOptions options = {});

 private:
  struct StorageEntry {
    std::string key;
    pickle::Node* node;
    Tensor bytes;  // the storage's whole content, as a contiguous host tensor
  };
  pickle::Document doc_;
  std::unordered_map<const Storage*, size_t> by_storage_;
  std::vector<StorageEntry> storages_;
};

// Writes a torch.save archive with bounded memory: each tensor's bytes go into the archive when it is
// handed over (as a storage of its own), and the pickle that refers to them comes last. torch.load reads
// entries by name, so the order is free; the first entry still names the archive folder.
class TorchSaveStream {
 public:
  TorchSaveStream(ByteSink& sink, std::string archive_name);
  ~TorchSaveStream();
  pickle::Document& doc() { return doc_; }
  pickle::Node* tensor(const Tensor& t, bool requires_grad = false);
  void finish(const pickle::Node* root, int pickle_protocol = 2);

 private:
  std::unique_ptr<ZipWriter> zip_;
  std::string archive_;
  pickle::Document doc_;
  size_t storages_ = 0;
  uint32_t crc_ = 0;
  bool finished_ = false;
};

}  // namespace mb
