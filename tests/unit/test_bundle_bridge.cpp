// Bundles read in place: a mounted bundle behaves as the folder it holds (paths, listings, files), tensor
// chunks are decoded when pinned and let go when unpinned, and every model fixture — Hugging Face folders
// transformers wrote, Megatron-Core's own torch_dist and legacy checkpoints — streams the same tensors, and
// loads into the engine with the same logits, from its bundle as from its folder.
#include <algorithm>
#include <cstring>

#include "bridge/export_stream.h"
#include "bridge/param_source.h"
#include "core/error.h"
#include "core/paths.h"
#include "engine/cpu/cpu_model.h"
#include "io/bundle_pack.h"
#include "io/bundle_reader.h"
#include "io/safetensors.h"
#include "support/test_support.h"

using namespace mb;

namespace {

struct ModelFixture {
  std::string dir;     // under tests/fixtures
  std::string family;  // for Megatron checkpoints that store no Hugging Face config
};

// Every model folder among the fixtures: the Hugging Face ones and the Megatron checkpoints.
std::vector<ModelFixture> model_fixtures() {
  std::vector<ModelFixture> out;
  const std::string hf = mbtest::fixture("bridge/hf");
  for (const std::string& name : list_directory(hf))
    if (is_directory(join_path(hf, name))) out.push_back({"bridge/hf/" + name, ""});
  const std::string mcore = mbtest::fixture("bridge/mcore");
  for (const std::string& name : list_directory(mcore))
    if (is_directory(join_path(mcore, name)))
      for (const char* format : {"torch_dist", "legacy"})
        out.push_back({"bridge/mcore/" + name + "/" + format, name.rfind("moe", 0) == 0 ? "mixtral" : "llama"});
  out.push_back({"foundation/hf_tiny_llama_sharded", ""});
  for (const char* d : {"foundation/mcore/tp1", "foundation/mcore/tp2", "foundation/mcore/pp2", "foundation/legacy/tp1",
                        "foundation/legacy/tp2", "foundation/legacy/pp2"})
    out.push_back({d, "llama"});
  return out;
}

std::string pack(const std::string& source, const std::string& out, const std::string& kind) {
  PackOptions o;
  o.kind = kind;
  o.chunk_bytes = 1024;  // several chunks per tensor even in these tiny models
  o.fsync = false;
  pack_bundle(source, out, o);
  return out;
}

std::unique_ptr<bridge::ParamSource> open(const std::string& path, const std::string& family) {
  bridge::MegatronSourceOptions o;
  o.family = family;
  return bridge::open_param_source(path, o);
}

std::vector<std::pair<std::string, Tensor>> stream(const bridge::ParamSource& source, bridge::ExportTarget target) {
  bridge::ExportStream s(source, target);
  std::vector<std::pair<std::string, Tensor>> out;
  std::string name;
  Tensor t;
  while (s.next(name, t)) out.emplace_back(name, t.contiguous().to(Device{}));
  return out;
}

}  // namespace

TEST(BundleMount, ABundleIsReadAsTheFolderItHolds) {
  const std::string work = mbtest::scratch_dir("mount");
  const std::string src = mbtest::fixture("bridge/hf/llama31");
  const std::string bundle = pack(src, join_path(work, "llama31.mbz"), "hf");
  EXPECT_TRUE(is_bundle_file(bundle));
  EXPECT_FALSE(is_bundle_file(join_path(src, "config.json")));
  EXPECT_FALSE(is_directory(bundle));
  {
    auto mount = mount_if_bundle(bundle);
    ASSERT_NE(mount, nullptr);
    EXPECT_TRUE(is_directory(bundle));
    EXPECT_TRUE(is_regular_file(bundle)) << "the bundle stays a file";
    EXPECT_EQ(list_directory(bundle), list_directory(src));
    EXPECT_EQ(read_text_file(join_path(bundle, "config.json")), mbtest::read_file(join_path(src, "config.json")));
    EXPECT_EQ(read_text_file(work + "/./llama31.mbz/tokenizer.json"), mbtest::read_file(join_path(src, "tokenizer.json")));
    EXPECT_EQ(file_size(join_path(bundle, "tokenizer.json")), file_size(join_path(src, "tokenizer.json")));
    EXPECT_TRUE(is_regular_file(join_path(bundle, "model.safetensors.index.json")));
    EXPECT_FALSE(path_exists(join_path(bundle, "nothing.json")));
    EXPECT_FALSE(is_directory(join_path(bundle, "config.json")));
    EXPECT_THROW(read_text_file(join_path(bundle, "nothing.json")), Error);
    // the bundle itself still opens as the file it is
    EXPECT_EQ(MappedFile::open(bundle)->size(), file_size(bundle));
    // a second mount of the same bundle shares the first
    auto again = mount_if_bundle(bundle);
    ASSERT_NE(again, nullptr);
  }
  EXPECT_FALSE(is_directory(bundle)) << "unmounted when the last handle goes";
  EXPECT_THROW(read_text_file(join_path(bundle, "config.json")), Error);
}

TEST(BundleMount, TensorChunksAreDecodedWhenPinnedAndReleasedWhenNot) {
  const std::string work = mbtest::scratch_dir("lazy");
  const std::string src = mbtest::fixture("bridge/hf/llama31");
  const std::string bundle = pack(src, join_path(work, "llama31.mbz"), "hf");
  auto mount = mount_if_bundle(bundle);
  const std::string shard = "model-00001-of-00002.safetensors";
  auto original = SafetensorsFile::open(join_path(src, shard));
  auto inside = SafetensorsFile::open(join_path(bundle, shard));  // through the mount
  const SafetensorsEntry* e = inside->find("model.embed_tokens.weight");
  ASSERT_NE(e, nullptr);
  {
    Tensor t = inside->tensor(*e);
    EXPECT_TRUE(mbtest::BitwiseEqual(t, original->tensor("model.embed_tokens.weight")));
    inside->drop_pages();  // pinned by t: stays
    EXPECT_TRUE(mbtest::BitwiseEqual(t, original->tensor("model.embed_tokens.weight")));
  }
  inside->drop_pages();  // now released, and decoded again on the next read
  for (const SafetensorsEntry& x : inside->entries())
    EXPECT_TRUE(mbtest::BitwiseEqual(inside->tensor(x), original->tensor(x.name))) << x.name;

  // the counting, on the image of another Bundle object: pin, release while pinned, unpin, release
  auto standalone = Bundle::open(bundle);
  const BundleFile* f = standalone->find(shard);
  ASSERT_NE(f, nullptr);
  auto image = standalone->image(*f);
  EXPECT_EQ(bundle_image_loaded_chunks(*image), 0u);
  const BundleSegment* tensor_segment = nullptr;
  for (const BundleSegment& s : f->segments)
    if (s.is_tensor() && s.chunk_count > 2) tensor_segment = &s;
  ASSERT_NE(tensor_segment, nullptr);
  {
    auto pin = image->pin(tensor_segment->offset, tensor_segment->length);
    ASSERT_NE(pin, nullptr);
    EXPECT_EQ(bundle_image_loaded_chunks(*image), tensor_segment->chunk_count);
    image->release_unpinned();
    EXPECT_EQ(bundle_image_loaded_chunks(*image), tensor_segment->chunk_count);
    auto raw = MappedFile::open(join_path(src, shard));
    EXPECT_EQ(0, std::memcmp(image->data() + tensor_segment->offset, raw->data() + tensor_segment->offset,
                             tensor_segment->length));
  }
  image->release_unpinned();
  EXPECT_EQ(bundle_image_loaded_chunks(*image), 0u);
  EXPECT_EQ(image->pin(0, 8), nullptr) << "the header is decoded with the image: nothing to pin";
}

#ifndef NDEBUG
// Only debug builds guard undecoded tensor pages (io/bundle_image.cpp); the sanitizer build runs this.
TEST(BundleMountDeathTest, ReadingTensorBytesWithoutAPinCrashesInDebugBuilds) {
  const std::string work = mbtest::scratch_dir("guard");
  PackOptions o;
  o.fsync = false;  // default 4 MiB chunks: whole pages inside the 16 KiB embedding
  pack_bundle(mbtest::fixture("bridge/hf/llama31"), join_path(work, "m.mbz"), o);
  auto bundle = Bundle::open(join_path(work, "m.mbz"));
  const BundleFile* f = bundle->find("model-00001-of-00002.safetensors");
  ASSERT_NE(f, nullptr);
  const BundleSegment& embed = f->segments[1];
  ASSERT_EQ(embed.tensor, "model.embed_tokens.weight");
  auto image = bundle->image(*f);
  const size_t page_inside = (embed.offset + 8192) / 4096 * 4096;
  ASSERT_LT(page_inside + 4096, embed.offset + embed.length);
  const volatile uint8_t* p = image->data() + page_inside;
  EXPECT_DEATH((void)*p, "");
  auto pin = image->pin(embed.offset, embed.length);
  EXPECT_EQ(*p, *p);  // readable while pinned
}
#endif

TEST(BundleBridge, EveryModelFixtureStreamsTheSameFromItsBundle) {
  const std::string work = mbtest::scratch_dir("streams");
  const std::vector<ModelFixture> fixtures = model_fixtures();
  ASSERT_GE(fixtures.size(), 20u);
  size_t n = 0;
  for (const ModelFixture& m : fixtures) {
    SCOPED_TRACE(m.dir);
    const std::string folder = mbtest::fixture(m.dir);
    const bool hf = bridge::is_hf_folder(folder);
    const std::string bundle = pack(folder, join_path(work, cat("model", n++, ".mbz")), hf ? "hf" : "megatron");
    auto a = open(folder, m.family);
    auto b = open(bundle, m.family);
    EXPECT_STREQ(a->kind(), b->kind());
    for (auto target : {bridge::ExportTarget::kHuggingFace, bridge::ExportTarget::kMegatron}) {
      auto sa = stream(*a, target), sb = stream(*b, target);
      ASSERT_EQ(sa.size(), sb.size());
      ASSERT_GT(sa.size(), 5u);
      for (size_t i = 0; i < sa.size(); ++i) {
        EXPECT_EQ(sa[i].first, sb[i].first);
        EXPECT_TRUE(mbtest::BitwiseEqual(sa[i].second, sb[i].second)) << sa[i].first;
      }
    }
    EXPECT_EQ(a->hf_config_text(), b->hf_config_text());
    EXPECT_EQ(a->assets().size(), b->assets().size());
  }
}

TEST(BundleBridge, StreamingGivesBackWhatItDecoded) {
  // A source read from a bundle holds the tensors in flight, not the model: after drop_pages (what the
  // conversions call between parameters), no tensor chunk stays decoded.
  const std::string work = mbtest::scratch_dir("release");
  struct Case {
    const char* dir;
    const char* family;
    const char* file;  // a data file inside
  };
  for (const Case& c : {Case{"bridge/hf/llama2", "", "model.safetensors"},
                        Case{"bridge/mcore/dense_tp1/torch_dist", "llama", "iter_0000010/__0_0.distcp"},
                        Case{"bridge/mcore/dense_tp1/legacy", "llama", "iter_0000010/mp_rank_00/model_optim_rng.pt"}}) {
    SCOPED_TRACE(c.dir);
    const std::string folder = mbtest::fixture(c.dir);
    const std::string bundle = pack(folder, join_path(work, cat(file_name(folder), "_", c.family, ".mbz")),
                                    bridge::is_hf_folder(folder) ? "hf" : "megatron");
    auto source = open(bundle, c.family);
    auto data = MappedFile::open(join_path(bundle, c.file));  // the image the source reads
    ASSERT_NE(data->image(), nullptr);
    const LazyImage& image = *data->image();
    size_t most = 0;
    for (const bridge::ParamInfo& p : source->params()) {
      Tensor t = source->read(p);
      most = std::max(most, bundle_image_loaded_chunks(image));
      t = Tensor();
      source->drop_pages();
      EXPECT_EQ(bundle_image_loaded_chunks(image), 0u) << bridge::describe(p.key);
    }
    EXPECT_GT(most, 0u);
  }
}

TEST(BundleBridge, TheEngineLoadsTheSameWeightsFromABundle) {
  const std::string work = mbtest::scratch_dir("engine");
  const std::vector<int32_t> ids = {1, 17, 42, 5, 99};
  for (const ModelFixture& m : {ModelFixture{"bridge/hf/qwen3_moe", ""}, ModelFixture{"bridge/mcore/dense_tp2/torch_dist", "llama"},
                                ModelFixture{"bridge/mcore/dense_pp2/legacy", "llama"}}) {
    SCOPED_TRACE(m.dir);
    const std::string folder = mbtest::fixture(m.dir);
    const std::string bundle =
        pack(folder, join_path(work, file_name(m.dir) + ".mbz"), bridge::is_hf_folder(folder) ? "hf" : "megatron");
    engine::CpuModel a(*open(folder, m.family));
    engine::CpuModel b(*open(bundle, m.family));
    std::vector<float> la = a.forward(ids), lb = b.forward(ids);
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_EQ(0, std::memcmp(la.data(), lb.data(), la.size() * sizeof(float)));
  }
}

TEST(BundleBridge, DamagedTensorDataIsReportedWhenRead) {
  const std::string work = mbtest::scratch_dir("damaged_read");
  const std::string bundle = pack(mbtest::fixture("bridge/hf/llama2"), join_path(work, "llama2.mbz"), "hf");
  auto index = Bundle::open(bundle);
  const BundleFile* f = index->find("model.safetensors");
  ASSERT_NE(f, nullptr);
  const BundleSegment* target = nullptr;
  for (const BundleSegment& s : f->segments)
    if (s.tensor == "model.layers.1.mlp.up_proj.weight") target = &s;
  ASSERT_NE(target, nullptr);
  std::string bytes = mbtest::read_file(bundle);
  const BundleChunk& c = f->chunks[target->first_chunk];
  bytes[c.frame_offset + c.frame_length - 3] ^= 0x21;
  mbtest::write_file(join_path(work, "damaged.mbz"), bytes);
  auto source = open(join_path(work, "damaged.mbz"), "");  // opens: only the headers are read
  try {
    stream(*source, bridge::ExportTarget::kHuggingFace);
    FAIL() << "damage not noticed";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kFormat);
    EXPECT_NE(e.message().find("damaged.mbz: file 'model.safetensors', tensor 'model.layers.1.mlp.up_proj.weight'"),
              std::string::npos)
        << e.message();
  }
}
