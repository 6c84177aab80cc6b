// torch.save files written by torch 2.11 (tests/fixtures/foundation/torch): every dtype, views and shared
// storages, and plain Python values; and files we write, read back by us (torch reads them on the GPU
// machine: tests/interop/interop_foundation.py).
#include <functional>
#include <map>
#include <set>

#include "io/json.h"
#include "io/safetensors.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/torch_save.h"
#include "support/test_support.h"

using namespace mb;
using mbtest::BitwiseEqual;

namespace {

// Reads a .pt and checks every tensor against the safetensors dump torch made of the same tensors.
void expect_tensors_match(const std::string& pt, const std::string& reference, size_t expected_count) {
  auto file = TorchSaveFile::open(mbtest::fixture(pt));
  auto ref = SafetensorsFile::open(mbtest::fixture(reference));
  auto tensors = collect_tensors(file->root());
  ASSERT_EQ(tensors.size(), expected_count);
  EXPECT_EQ(ref->entries().size(), expected_count);
  for (const auto& [name, node] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_NE(ref->find(name), nullptr);
    EXPECT_TRUE(BitwiseEqual(file->tensor(node), ref->tensor(name)));
  }
}

}  // namespace

TEST(TorchSaveRead, EveryDtype) { expect_tensors_match("foundation/torch/dtypes.pt", "foundation/torch/dtypes.reference.safetensors", 15); }

TEST(TorchSaveRead, ViewsMatchTorch) {
  expect_tensors_match("foundation/torch/views.pt", "foundation/torch/views.reference.safetensors", 9);
}

TEST(TorchSaveRead, ViewsShareStoragesLikeTorch) {
  auto file = TorchSaveFile::open(mbtest::fixture("foundation/torch/views.pt"));
  json::Value layout = json::parse_file(mbtest::fixture("foundation/torch/views.layout.json"));
  std::map<int64_t, const Storage*> storage_of_id;
  for (const auto& [name, node] : collect_tensors(file->root())) {
    SCOPED_TRACE(name);
    const json::Value* want = layout.find(name);
    ASSERT_NE(want, nullptr);
    Tensor t = file->tensor(node);
    EXPECT_EQ(node->storage_offset, want->find("offset")->as_int());
    Dims strides;
    for (const auto& s : want->find("stride")->items()) strides.push_back(s.as_int());
    EXPECT_EQ(t.strides(), strides);
    EXPECT_EQ(static_cast<int64_t>(t.storage()->nbytes()), want->find("storage_bytes")->as_int());
    // tensors torch saw on one storage share one Storage here, and no others do
    int64_t id = want->find("storage")->as_int();
    auto [it, inserted] = storage_of_id.emplace(id, t.storage().get());
    EXPECT_EQ(it->second, t.storage().get());
  }
  std::set<const Storage*> distinct;
  for (auto& [id, s] : storage_of_id) distinct.insert(s);
  EXPECT_EQ(distinct.size(), storage_of_id.size());
}

TEST(TorchSaveRead, PythonValuesProtocol2And5) {
  json::Value want = json::parse_file(mbtest::fixture("foundation/torch/values.describe.json"));
  auto ref = SafetensorsFile::open(mbtest::fixture("foundation/torch/values.reference.safetensors"));
  for (const char* pt : {"foundation/torch/values.pt", "foundation/torch/values_p5.pt"}) {
    SCOPED_TRACE(pt);
    auto file = TorchSaveFile::open(mbtest::fixture(pt));
    json::Value got = mbtest::describe(file->root());
    EXPECT_EQ(json::dump(got, 1), json::dump(want, 1));
    for (const auto& [name, node] : collect_tensors(file->root())) {
      SCOPED_TRACE(name);
      EXPECT_TRUE(BitwiseEqual(file->tensor(node), ref->tensor(name)));
    }
  }
}

TEST(TorchSaveRead, ParametersAndRequiresGrad) {
  auto file = TorchSaveFile::open(mbtest::fixture("foundation/torch/values.pt"));
  const pickle::Node* param = pickle::dict_get(file->root(), "param");
  const pickle::Node* grad = pickle::dict_get(file->root(), "needs_grad");
  ASSERT_TRUE(param && grad);
  EXPECT_TRUE(param->is_parameter);
  EXPECT_TRUE(param->requires_grad);
  EXPECT_FALSE(grad->is_parameter);
  EXPECT_TRUE(grad->requires_grad);
}

TEST(TorchSaveRead, CrcVerification) {
  TorchLoadOptions o;
  o.verify_crc = true;
  EXPECT_NO_THROW(TorchSaveFile::open(mbtest::fixture("foundation/torch/dtypes.pt"), o));
  std::string dir = mbtest::scratch_dir("crc");
  std::string bytes = mbtest::read_file(mbtest::fixture("foundation/torch/dtypes.pt"));
  auto probe = TorchSaveFile::open(mbtest::fixture("foundation/torch/dtypes.pt"));
  // flip one byte inside the first storage's data
  ZipReader zip({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "probe");
  const ZipEntry* e = nullptr;
  for (const auto& x : zip.entries())
    if (x.name.find("/data/0") != std::string::npos) e = &x;
  ASSERT_NE(e, nullptr);
  bytes[e->data_offset] ^= 0x40;
  std::string path = dir + "/corrupt.pt";
  mbtest::write_file(path, bytes);
  EXPECT_NO_THROW(TorchSaveFile::open(path));  // unchecked: opens
  try {
    TorchSaveFile::open(path, o);
    FAIL() << "CRC mismatch not detected";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find(path), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("CRC"), std::string::npos) << err.what();
  }
}

// ---- writing ----------------------------------------------------------------------------------------------

TEST(TorchSaveWrite, RoundTripKeepsValuesViewsAndSharing) {
  auto src = TorchSaveFile::open(mbtest::fixture("foundation/torch/views.pt"));
  TorchSaveWriter w;
  pickle::Node* root = w.doc().dict(true);
  std::vector<std::pair<std::string, Tensor>> originals;
  for (const auto& [name, node] : collect_tensors(src->root())) {
    Tensor t = src->tensor(node);
    originals.emplace_back(name, t);
    w.doc().dict_set(root, w.doc().string(name), w.tensor(t));
  }
  std::string dir = mbtest::scratch_dir("rt");
  w.write_file(dir + "/views.pt", root);
  auto back = TorchSaveFile::open(dir + "/views.pt", TorchLoadOptions{true, {}});
  auto tensors = collect_tensors(back->root());
  ASSERT_EQ(tensors.size(), originals.size());
  std::map<const Storage*, const Storage*> mapping;  // original storage -> written storage, must be 1:1
  for (size_t i = 0; i < tensors.size(); ++i) {
    SCOPED_TRACE(tensors[i].first);
    EXPECT_EQ(tensors[i].first, originals[i].first);
    Tensor t = back->tensor(tensors[i].second);
    EXPECT_TRUE(BitwiseEqual(t, originals[i].second));
    EXPECT_EQ(t.strides(), originals[i].second.strides());
    auto [it, inserted] = mapping.emplace(originals[i].second.storage().get(), t.storage().get());
    EXPECT_EQ(it->second, t.storage().get());
  }
  // every zip entry is 64-byte aligned, as torch writes them
  std::string bytes = mbtest::read_file(dir + "/views.pt");
  ZipReader zip({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "views.pt");
  for (const auto& e : zip.entries()) EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
  EXPECT_NE(zip.find("archive/data.pkl"), nullptr);
  EXPECT_NE(zip.find("archive/byteorder"), nullptr);
}

TEST(TorchSaveWrite, SmallViewOfLargeBufferWritesOnlyTheView) {
  Tensor big = Tensor::zeros(DType::F32, {1024, 1024});
  Tensor row = big.narrow(0, 5, 1);
  TorchSaveWriter w;
  pickle::Node* root = w.doc().dict();
  w.doc().dict_set(root, w.doc().string("row"), w.tensor(row));
  std::string dir = mbtest::scratch_dir("view");
  w.write_file(dir + "/row.pt", root);
  EXPECT_LT(file_size(dir + "/row.pt"), 16384u);
  auto back = TorchSaveFile::open(dir + "/row.pt");
  EXPECT_TRUE(BitwiseEqual(back->tensor(pickle::dict_get(back->root(), "row")), row));
}

TEST(TorchSaveWrite, ForcedZip64IsReadable) {
  Tensor t = Tensor::from_bytes(DType::I32, {3}, "\x01\0\0\0\x02\0\0\0\x03\0\0\0", 12);
  TorchSaveWriter w;
  pickle::Node* root = w.tensor(t);
  MemorySink sink;
  TorchSaveWriteOptions o;
  o.force_zip64 = true;
  w.write(sink, root, o);
  std::string dir = mbtest::scratch_dir("z64");
  mbtest::write_file(dir + "/t.pt", std::string(sink.bytes().begin(), sink.bytes().end()));
  auto back = TorchSaveFile::open(dir + "/t.pt", TorchLoadOptions{true, {}});
  EXPECT_TRUE(BitwiseEqual(back->tensor(back->root()), t));
}

TEST(TorchSaveWrite, PlainValuesSurviveProtocol2And4) {
  // everything values.pt holds except tensors, rebuilt from what we read, written again, read again
  auto src = TorchSaveFile::open(mbtest::fixture("foundation/torch/values.pt"));
  json::Value want = mbtest::describe(src->root());
  for (int protocol : {2, 4}) {
    SCOPED_TRACE(protocol);
    TorchSaveWriter w;
    pickle::Node* root = w.import(*src, src->root());
    MemorySink sink;
    TorchSaveWriteOptions o;
    o.pickle_protocol = protocol;
    w.write(sink, root, o);
    std::string dir = mbtest::scratch_dir("values" + std::to_string(protocol));
    mbtest::write_file(dir + "/v.pt", std::string(sink.bytes().begin(), sink.bytes().end()));
    auto back = TorchSaveFile::open(dir + "/v.pt");
    EXPECT_EQ(json::dump(mbtest::describe(back->root()), 1), json::dump(want, 1));
  }
}
