// torch_dist checkpoints written by Megatron-Core's dist_checkpointing.save (tests/fixtures/foundation/mcore):
// the chunk layout torch itself read from .metadata, the global tensors torch.distributed.checkpoint
// assembled, and the bytes items, all compared with what we read. Then checkpoints we write.
#include "core/error.h"
#include "core/paths.h"
#include "io/json.h"
#include "io/megatron_tracker.h"
#include "io/safetensors.h"
#include "io/torch_dist.h"
#include "support/test_support.h"

using namespace mb;
using mbtest::BitwiseEqual;

namespace {

const char* kLayouts[] = {"tp1", "tp2", "pp2", "moe_tp1"};

json::Value reference_json(const std::string& layout) {
  return json::parse_file(mbtest::fixture("foundation/mcore/" + layout + ".reference.json"));
}

std::shared_ptr<SafetensorsFile> reference_tensors(const std::string& layout) {
  return SafetensorsFile::open(mbtest::fixture("foundation/mcore/" + layout + ".reference.safetensors"));
}

Dims dims_of(const json::Value& v) {
  Dims d;
  for (const auto& x : v.items()) d.push_back(x.as_int());
  return d;
}

bool has_repr(const json::Value& v) {
  if (v.is_object()) {
    if (v.find("repr")) return true;
    for (const auto& [k, x] : v.members())
      if (has_repr(x)) return true;
  }
  if (v.is_array())
    for (const auto& x : v.items())
      if (has_repr(x)) return true;
  return false;
}

}  // namespace

TEST(TorchDistRead, MetadataMatchesTorch) {
  for (const char* layout : kLayouts) {
    SCOPED_TRACE(layout);
    auto ck = TorchDistCheckpoint::open(mbtest::fixture(std::string("foundation/mcore/") + layout));
    EXPECT_EQ(ck->iteration(), 10);
    json::Value ref = reference_json(layout);
    const json::Value& tensors = *ref.find("tensors");
    ASSERT_EQ(ck->tensors().size(), tensors.size());
    for (const auto& [key, want] : tensors.members()) {
      SCOPED_TRACE(key);
      const DistTensor* t = ck->find(key);
      ASSERT_NE(t, nullptr);
      EXPECT_STREQ(dtype_torch_name(t->dtype), want.find("dtype")->as_string().c_str());
      EXPECT_EQ(t->shape, dims_of(*want.find("size")));
      const auto& chunks = want.find("chunks")->items();
      ASSERT_EQ(t->chunks.size(), chunks.size());
      for (size_t i = 0; i < chunks.size(); ++i) {
        EXPECT_EQ(t->chunks[i].offsets, dims_of(*chunks[i].find("offsets")));
        EXPECT_EQ(t->chunks[i].sizes, dims_of(*chunks[i].find("sizes")));
      }
    }
    // every storage record torch read: tensors' chunks and bytes items at the same file ranges
    size_t matched = 0;
    for (const json::Value& s : ref.find("storage")->items()) {
      const std::string& fqn = s.find("fqn")->as_string();
      if (const DistBytes* b = ck->find_bytes(fqn)) {
        EXPECT_EQ(b->file, s.find("file")->as_string());
        EXPECT_EQ(b->offset, static_cast<uint64_t>(s.find("file_offset")->as_int()));
        EXPECT_EQ(b->length, static_cast<uint64_t>(s.find("length")->as_int()));
        ++matched;
        continue;
      }
      const DistTensor* t = ck->find(fqn);
      ASSERT_NE(t, nullptr) << fqn;
      Dims off = dims_of(*s.find("offset"));
      for (const DistChunk& c : t->chunks)
        if (c.offsets == off) {
          EXPECT_EQ(c.file, s.find("file")->as_string());
          EXPECT_EQ(c.offset, static_cast<uint64_t>(s.find("file_offset")->as_int()));
          EXPECT_EQ(c.length, static_cast<uint64_t>(s.find("length")->as_int()));
          ++matched;
        }
    }
    EXPECT_EQ(matched, ref.find("storage")->size());
    EXPECT_EQ(ck->byte_items().size(), ref.find("bytes")->size());
  }
}

TEST(TorchDistRead, GlobalTensorsMatchTorch) {
  for (const char* layout : kLayouts) {
    SCOPED_TRACE(layout);
    auto ck = TorchDistCheckpoint::open(mbtest::fixture(std::string("foundation/mcore/") + layout));
    auto ref = reference_tensors(layout);
    ASSERT_EQ(ref->entries().size(), ck->tensors().size());
    for (const DistTensor& t : ck->tensors()) {
      SCOPED_TRACE(t.key);
      EXPECT_TRUE(BitwiseEqual(ck->read(t.key), ref->tensor(t.key)));
    }
  }
}

TEST(TorchDistRead, EveryLayoutHoldsTheSameModel) {
  // Megatron-Core itself resharded the TP1 checkpoint into TP2 and PP2 (generate_foundation_fixtures.py)
  auto tp1 = reference_tensors("tp1");
  for (const char* layout : {"tp2", "pp2"}) {
    SCOPED_TRACE(layout);
    auto ck = TorchDistCheckpoint::open(mbtest::fixture(std::string("foundation/mcore/") + layout));
    for (const DistTensor& t : ck->tensors()) {
      SCOPED_TRACE(t.key);
      EXPECT_TRUE(BitwiseEqual(ck->read(t.key), tp1->tensor(t.key)));
    }
  }
}

TEST(TorchDistRead, BytesItemsAndCommonState) {
  for (const char* layout : kLayouts) {
    SCOPED_TRACE(layout);
    auto ck = TorchDistCheckpoint::open(mbtest::fixture(std::string("foundation/mcore/") + layout));
    json::Value ref = reference_json(layout);
    for (const auto& [key, want] : ref.find("bytes")->members()) {
      SCOPED_TRACE(key);
      const DistBytes* b = ck->find_bytes(key);
      ASSERT_NE(b, nullptr);
      EXPECT_EQ(ck->read_bytes(*b).size, static_cast<size_t>(want.find("length")->as_int()));
      const json::Value& described = *want.find("describe");
      if (has_repr(described)) continue;  // numpy rng state: Python could not describe it as plain data
      auto obj = ck->open_bytes_as_torch_save(*b);
      EXPECT_EQ(json::dump(mbtest::describe(obj->root())), json::dump(described));
    }
    auto common = ck->common_state();
    ASSERT_NE(common.state, nullptr);
    EXPECT_EQ(common.file->root()->kind, pickle::Kind::kList);  // Megatron-Core wraps the dict in a list
    const pickle::Node* args = pickle::dict_get(common.state, "args");
    ASSERT_NE(args, nullptr);
    EXPECT_EQ(args->qualified_name(), "argparse.Namespace");
    EXPECT_EQ(pickle::as_int(pickle::object_attr(args, "num_layers"), "", ""), 4);
    EXPECT_EQ(pickle::as_int(pickle::dict_get(common.state, "iteration"), "", ""), 10);
  }
}

TEST(TorchDistRead, RegionsTouchOnlyWhatTheyNeed) {
  auto ck = TorchDistCheckpoint::open(mbtest::fixture("foundation/mcore/tp2"));
  auto ref = reference_tensors("tp2");
  // a region crossing both tensor-parallel chunks of layers 1..2 of linear_fc1 ([gate; up] rows)
  const std::string key = "decoder.layers.mlp.linear_fc1.weight";
  Tensor full = ref->tensor(key);
  Dims start{1, 20, 3}, size{2, 80, 29};
  Tensor region = ck->read_region(key, start, size);
  Tensor want = full.narrow(0, 1, 2).narrow(1, 20, 80).narrow(2, 3, 29).contiguous();
  EXPECT_TRUE(BitwiseEqual(region, want));
  EXPECT_THROW(ck->read_region(key, Dims{0, 0, 0}, Dims{5, 1, 1}), Error);
}

// ---- writing ----------------------------------------------------------------------------------------------


TEST(TorchDistWrite, RechunkedCopyReadsBackIdentical) {
  for (bool common_pt : {false, true}) {
    SCOPED_TRACE(common_pt ? "common.pt" : "common_state item");
    auto src = TorchDistCheckpoint::open(mbtest::fixture("foundation/mcore/tp2"));
    std::string root = mbtest::scratch_dir(common_pt ? "common_pt" : "item");
    mbtest::rewrite_torch_dist(*src, root, 3, 3, common_pt);
    auto back = TorchDistCheckpoint::open(root);
    EXPECT_EQ(back->iteration(), 10);
    EXPECT_TRUE(is_regular_file(join_path(back->directory(), "__2_0.distcp")));
    EXPECT_EQ(is_regular_file(join_path(back->directory(), "common.pt")), common_pt);
    auto ref = reference_tensors("tp2");
    for (const DistTensor& t : src->tensors()) {
      SCOPED_TRACE(t.key);
      const DistTensor* bt = back->find(t.key);
      ASSERT_NE(bt, nullptr);
      if (t.shape.size() > 0 && t.shape[t.shape.size() - 1] >= 3) {
        EXPECT_EQ(bt->chunks.size(), 3u);
      }
      EXPECT_TRUE(BitwiseEqual(back->read(t.key), ref->tensor(t.key)));
    }
    for (const DistBytes& b : src->byte_items()) {
      if (b.key == "common_state/shard_0_1") continue;  // re-pickled by us: compared as a value below
      const DistBytes* bb = back->find_bytes(b.key);
      ASSERT_NE(bb, nullptr) << b.key;
      ByteView x = src->read_bytes(b), y = back->read_bytes(*bb);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(x.data), x.size),
                std::string(reinterpret_cast<const char*>(y.data), y.size));
    }
    auto common = back->common_state();
    ASSERT_NE(common.state, nullptr);
    EXPECT_EQ(common.file->root()->kind, common_pt ? pickle::Kind::kDict : pickle::Kind::kList);
    EXPECT_EQ(json::dump(mbtest::describe(common.state)), json::dump(mbtest::describe(src->common_state().state)));
  }
}

TEST(TorchDistWrite, RefusesIncompleteOrOverlappingChunks) {
  std::string root = mbtest::scratch_dir("bad");
  Tensor t = Tensor::zeros(DType::BF16, {4, 6});
  {
    TorchDistWriter w(join_path(root, "iter_0000001"), 1, DistWriteOptions{false, false, 4});
    w.add_chunk("w", {4, 6}, {0, 0}, t.narrow(0, 0, 2), 0);  // rows 2..3 never written
    EXPECT_THROW(w.finish(), Error);
  }
  EXPECT_FALSE(path_exists(join_path(root, "iter_0000001")));  // nothing left behind
  EXPECT_TRUE(list_directory(root).empty());
  {
    TorchDistWriter w(join_path(root, "iter_0000002"), 1, DistWriteOptions{false, false, 4});
    w.add_chunk("w", {4, 6}, {0, 0}, t.narrow(0, 0, 3), 0);
    w.add_chunk("w", {4, 6}, {2, 0}, t.narrow(0, 0, 2), 0);  // rows 2 written twice
    EXPECT_THROW(w.finish(), Error);
  }
  EXPECT_TRUE(list_directory(root).empty());
}

TEST(TorchDistWrite, RefusesToOverwrite) {
  std::string root = mbtest::scratch_dir("exists");
  make_directories(join_path(root, "iter_0000003"));
  EXPECT_THROW(TorchDistWriter(join_path(root, "iter_0000003"), 1), Error);
}
