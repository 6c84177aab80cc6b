// safetensors files written by the safetensors library (through safetensors.torch and transformers'
// save_pretrained on the GPU machine), and files we write: byte-identical to the library's own output.
#include <set>

#include "core/error.h"
#include "core/paths.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/safetensors_sharded.h"
#include "support/test_support.h"

using namespace mb;
using mbtest::BitwiseEqual;

namespace {
std::vector<SafetensorsSpec> specs_of(const SafetensorsFile& f) {
  std::vector<SafetensorsSpec> specs;
  for (const auto& e : f.entries()) specs.push_back({e.name, e.dtype, e.shape});
  return specs;
}
}  // namespace

TEST(SafetensorsRead, ShardedFolderMatchesTransformers) {
  auto folder = SafetensorsFolder::open(mbtest::fixture("foundation/hf_tiny_llama_sharded"));
  auto ref = SafetensorsFile::open(mbtest::fixture("foundation/hf_tiny_llama_sharded.reference.safetensors"));
  EXPECT_EQ(folder->files().size(), 3u);
  ASSERT_EQ(folder->names().size(), ref->entries().size());
  for (const auto& e : ref->entries()) {
    SCOPED_TRACE(e.name);
    EXPECT_TRUE(BitwiseEqual(folder->tensor(e.name), ref->tensor(e)));
  }
  // the index names every tensor; lookups report which shard holds it
  auto r = folder->find("lm_head.weight");
  ASSERT_NE(r.file, nullptr);
  EXPECT_EQ(file_name(r.file->path()), "model-00003-of-00003.safetensors");
  EXPECT_EQ(r.file->metadata(), (StringPairs{{"format", "pt"}}));
}

TEST(SafetensorsRead, EveryDtype) {
  auto f = SafetensorsFile::open(mbtest::fixture("foundation/torch/dtypes.reference.safetensors"));
  std::set<DType> seen;
  for (const auto& e : f->entries()) seen.insert(e.dtype);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNumDTypes));
}

TEST(SafetensorsWrite, ByteIdenticalToTheLibrary) {
  // Re-writing each file the library wrote, from its own tensors, gives the same bytes.
  for (const char* rel : {"foundation/torch/dtypes.reference.safetensors", "foundation/casts.safetensors",
                          "foundation/hf_tiny_llama_sharded/model-00002-of-00003.safetensors",
                          "foundation/mcore/tp2.reference.safetensors"}) {
    SCOPED_TRACE(rel);
    auto src = SafetensorsFile::open(mbtest::fixture(rel));
    std::string out = mbtest::scratch_dir("copy") + "/x.safetensors";
    SafetensorsWriter w(out, specs_of(*src), src->metadata());
    // write in reverse header order to show order does not matter
    for (auto it = src->entries().rbegin(); it != src->entries().rend(); ++it) w.write(it->name, src->tensor(*it));
    w.finish(false);
    EXPECT_EQ(mbtest::read_file(out), mbtest::read_file(mbtest::fixture(rel)));
  }
}

TEST(SafetensorsWrite, NothingAppearsUntilFinished) {
  std::string dir = mbtest::scratch_dir("partial");
  {
    SafetensorsWriter w(dir + "/a.safetensors", {{"x", DType::F32, {2}}}, {});
    EXPECT_TRUE(list_directory(dir).size() == 1);  // only the temporary file
    EXPECT_FALSE(path_exists(dir + "/a.safetensors"));
    EXPECT_THROW(w.finish(false), Error);  // x was never written
  }
  EXPECT_TRUE(list_directory(dir).empty());
}

TEST(SafetensorsWrite, RejectsWrongTensor) {
  std::string dir = mbtest::scratch_dir("wrong");
  SafetensorsWriter w(dir + "/a.safetensors", {{"x", DType::F32, {2}}}, {});
  EXPECT_THROW(w.write("x", Tensor::zeros(DType::BF16, {2})), Error);
  EXPECT_THROW(w.write("y", Tensor::zeros(DType::F32, {2})), Error);
  w.write("x", Tensor::zeros(DType::F32, {2}));
  EXPECT_THROW(w.write("x", Tensor::zeros(DType::F32, {2})), Error);
}

TEST(SafetensorsWrite, ShardsAndIndexLikeTransformers) {
  auto ref = SafetensorsFolder::open(mbtest::fixture("foundation/hf_tiny_llama_sharded"));
  std::vector<SafetensorsSpec> specs;
  for (const std::string& name : ref->names()) {
    auto r = ref->find(name);
    specs.push_back({name, r.entry->dtype, r.entry->shape});
  }
  std::string dir = mbtest::scratch_dir("sharded");
  ShardOptions o;
  o.max_shard_bytes = 20000;
  SafetensorsFolderWriter w(dir, specs, o);
  for (const std::string& name : ref->names()) w.write(name, ref->tensor(name));
  auto files = w.finish(false);
  EXPECT_GE(files.size(), 3u);
  auto back = SafetensorsFolder::open(dir);
  ASSERT_EQ(back->names().size(), ref->names().size());
  for (const std::string& name : ref->names()) EXPECT_TRUE(BitwiseEqual(back->tensor(name), ref->tensor(name))) << name;
  for (const auto& f : back->files()) EXPECT_LE(file_size(f->path()) - f->data_start(), 20000u + 8192u);
  json::Value index = json::parse_file(dir + "/model.safetensors.index.json");
  json::Value ref_index = json::parse_file(mbtest::fixture("foundation/hf_tiny_llama_sharded/model.safetensors.index.json"));
  EXPECT_EQ(*index.find("metadata"), *ref_index.find("metadata"));  // total_size and total_parameters
  // one shard when everything fits: model.safetensors and no index
  std::string single = mbtest::scratch_dir("single");
  SafetensorsFolderWriter w1(single, specs);
  for (const std::string& name : ref->names()) w1.write(name, ref->tensor(name));
  EXPECT_EQ(w1.finish(false), std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(path_exists(single + "/model.safetensors.index.json"));
}
