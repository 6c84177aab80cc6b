// Megatron checkpoints that Megatron-Core wrote itself (tests/fixtures/bridge/mcore: a dense GPTModel at TP1,
// TP2 and PP2 -- TP2 and PP2 resharded by Megatron-Core from TP1 -- and an MoE one, in torch_dist and legacy
// form) exported through mbridge; resharding; what the import writes, checked against Megatron's own files.
#include "bridge/convert.h"
#include "bridge/megatron_names.h"
#include "bridge/parallel_layout.h"
#include "bridge/param_source.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/json.h"
#include "io/megatron_legacy.h"
#include "io/safetensors_sharded.h"
#include "io/tensor_files.h"
#include "io/megatron_tracker.h"
#include "io/torch_dist.h"
#include "io/torch_save.h"
#include "support/test_support.h"

using namespace mb;
using namespace mb::bridge;

namespace {

std::string native(const std::string& rel) { return mbtest::fixture("bridge/mcore/" + rel); }

void expect_same_folder(const std::string& a, const std::string& b) {
  auto x = SafetensorsFolder::open(a);
  auto y = SafetensorsFolder::open(b);
  ASSERT_EQ(x->names().size(), y->names().size());
  for (const std::string& n : x->names()) {
    ASSERT_TRUE(y->find(n).file) << n;
    EXPECT_TRUE(mbtest::BitwiseEqual(x->tensor(n), y->tensor(n))) << n;
  }
}

std::vector<std::string> exported(const std::string& src, const std::string& dir, const std::string& family) {
  ExportOptions o;
  o.source.family = family;
  o.target.fsync = false;
  return export_checkpoint(src, dir, o);
}

}  // namespace

// read_slice (what a tensor-parallel rank reads its part with) gives read(p).narrow on Megatron-Core's own TP2
// files, for slices inside one rank's shard (read from that shard alone), across both shards, of a gated
// parameter's up half, and along either dimension.
TEST(BridgeMegatron, SlicesOfNativeTp2CheckpointsAreThoseOfTheWholeParameters) {
  for (const char* layout : {"dense_tp2/torch_dist", "dense_tp2/legacy"}) {
    MegatronSourceOptions o;
    o.family = "llama";
    auto source = open_megatron_source(native(layout), o);
    int slices = 0;
    for (const ParamInfo& p : source->params()) {
      const Tensor whole = source->read(p);
      for (int dim = 0; dim < p.shape.size(); ++dim) {
        const int64_t n = p.shape[dim], q = n / 4;
        for (const auto& [first, count] : std::vector<std::pair<int64_t, int64_t>>{
                 {0, n}, {0, n / 2}, {n / 2, n - n / 2}, {q, n / 2}, {3 * q, n - 3 * q}, {1, 1}, {n - 1, 1}, {n, 0}}) {
          const std::string what = std::string(layout) + " " + describe(p.key) + " dim " + std::to_string(dim) + " [" +
                                   std::to_string(first) + ", +" + std::to_string(count) + ")";
          const Tensor slice = source->read_slice(p, dim, first, count);
          EXPECT_TRUE(mbtest::BitwiseEqual(slice, whole.narrow(dim, first, count))) << what;
          ++slices;
        }
      }
      EXPECT_EQ(mbtest::status_of([&] { source->read_slice(p, 0, 1, p.shape[0]); }), Status::kInvalidArgument)
          << layout << " " << describe(p.key);
    }
    EXPECT_GT(slices, 100) << layout;
  }
}

TEST(BridgeMegatron, NativeCheckpointsExportAlikeInEveryLayout) {
  std::string work = mbtest::scratch_dir("native");
  exported(native("dense_tp1/torch_dist"), work + "/ref", "llama");
  for (const char* layout : {"dense_tp1/legacy", "dense_tp2/torch_dist", "dense_tp2/legacy", "dense_pp2/torch_dist",
                             "dense_pp2/legacy"}) {
    SCOPED_TRACE(layout);
    std::string out = work + "/" + std::string(layout).replace(std::string(layout).find('/'), 1, "_");
    exported(native(layout), out, "llama");
    expect_same_folder(work + "/ref", out);
  }
  // the exported config describes the model Megatron trained
  json::Value cfg = json::parse_file(work + "/ref/config.json");
  EXPECT_EQ(cfg.find("architectures")->items()[0].as_string(), "LlamaForCausalLM");
  EXPECT_EQ(cfg.find("num_hidden_layers")->as_int(), 4);
  EXPECT_EQ(cfg.find("num_key_value_heads")->as_int(), 4);
  EXPECT_EQ(cfg.find("head_dim")->as_int(), 4);
  EXPECT_EQ(cfg.find("tie_word_embeddings")->as_bool(), false);
}

TEST(BridgeMegatron, ExportedWeightsAreMegatronsUnfused) {
  // q/k/v and gate/up taken apart from Megatron's fused global tensors, row by row
  std::string work = mbtest::scratch_dir("unfused");
  exported(native("dense_tp1/torch_dist"), work + "/hf", "llama");
  auto hf = SafetensorsFolder::open(work + "/hf");
  auto ck = TorchDistCheckpoint::open(native("dense_tp1/torch_dist"));
  Tensor qkv = ck->read("decoder.layers.self_attention.linear_qkv.weight").select(0, 2);  // layer 2
  // 8 heads in 4 groups of 2, head_dim 4: group g = rows [g*16, g*16+8) q, then 4 k rows, then 4 v rows
  Tensor q = hf->tensor("model.layers.2.self_attn.q_proj.weight");
  Tensor k = hf->tensor("model.layers.2.self_attn.k_proj.weight");
  Tensor v = hf->tensor("model.layers.2.self_attn.v_proj.weight");
  for (int g = 0; g < 4; ++g) {
    EXPECT_TRUE(mbtest::BitwiseEqual(q.narrow(0, g * 8, 8).contiguous(), qkv.narrow(0, g * 16, 8).contiguous()));
    EXPECT_TRUE(mbtest::BitwiseEqual(k.narrow(0, g * 4, 4).contiguous(), qkv.narrow(0, g * 16 + 8, 4).contiguous()));
    EXPECT_TRUE(mbtest::BitwiseEqual(v.narrow(0, g * 4, 4).contiguous(), qkv.narrow(0, g * 16 + 12, 4).contiguous()));
  }
  Tensor fc1 = ck->read("decoder.layers.mlp.linear_fc1.weight").select(0, 3);
  EXPECT_TRUE(mbtest::BitwiseEqual(hf->tensor("model.layers.3.mlp.gate_proj.weight"), fc1.narrow(0, 0, 64).contiguous()));
  EXPECT_TRUE(mbtest::BitwiseEqual(hf->tensor("model.layers.3.mlp.up_proj.weight"), fc1.narrow(0, 64, 64).contiguous()));
}

TEST(BridgeMegatron, NativeMoeExportsAsMixtral) {
  std::string work = mbtest::scratch_dir("moe");
  exported(native("moe_tp1/torch_dist"), work + "/dist", "mixtral");
  exported(native("moe_tp1/legacy"), work + "/legacy", "mixtral");
  expect_same_folder(work + "/dist", work + "/legacy");
  auto hf = SafetensorsFolder::open(work + "/dist");
  auto ck = TorchDistCheckpoint::open(native("moe_tp1/torch_dist"));
  Tensor fc2 = ck->read("decoder.layers.mlp.experts.experts.linear_fc2.weight");
  EXPECT_TRUE(mbtest::BitwiseEqual(hf->tensor("model.layers.1.block_sparse_moe.experts.3.w2.weight"),
                                   fc2.select(0, 1).select(0, 3).contiguous()));
  EXPECT_TRUE(mbtest::BitwiseEqual(hf->tensor("model.layers.0.block_sparse_moe.gate.weight"),
                                   ck->read("decoder.layers.mlp.router.weight").select(0, 0).contiguous()));
}

TEST(BridgeMegatron, ReshardEqualsDirectImport) {
  // HF -> TP2 PP2 -> reshard to TP1 PP1 gives the files a direct HF -> TP1 PP1 import gives
  for (Format f : {Format::kTorchDist, Format::kMegatronLegacy}) {
    SCOPED_TRACE(format_name(f));
    std::string work = mbtest::scratch_dir(std::string("reshard_") + format_name(f));
    std::string hf = mbtest::fixture("bridge/hf/qwen3");
    ImportOptions big;
    big.target.format = f;
    big.target.layout.tp = 2;
    big.target.layout.pp = 2;
    big.target.fsync = false;
    import_checkpoint(hf, work + "/tp2pp2", big);
    ReshardOptions r;
    r.target.format = f;
    r.target.fsync = false;
    reshard_checkpoint(work + "/tp2pp2", work + "/resharded", r);
    ImportOptions direct;
    direct.target.format = f;
    direct.target.fsync = false;
    import_checkpoint(hf, work + "/direct", direct);
    auto a = open_tensor_files(work + "/resharded");
    auto b = open_tensor_files(work + "/direct");
    auto rows = compare_tensor_files(*a, *b);
    ASSERT_FALSE(rows.empty());
    for (const CompareRow& row : rows) EXPECT_TRUE(row.equal) << row.name;
  }
}

TEST(BridgeMegatron, ImportWritesWhatMegatronWrites) {
  // Same keys, shapes, dtypes-per-kind and chunk layout as the torch_dist Megatron-Core wrote at TP2.
  std::string work = mbtest::scratch_dir("shape");
  std::string hf = work + "/hf";
  exported(native("dense_tp1/torch_dist"), hf, "llama");
  ImportOptions o;
  o.target.format = Format::kTorchDist;
  o.target.layout.tp = 2;
  o.target.layout.spec = MegatronSpec::kLocal;
  o.target.fsync = false;
  import_checkpoint(hf, work + "/ours", o);
  auto ours = TorchDistCheckpoint::open(work + "/ours");
  auto theirs = TorchDistCheckpoint::open(native("dense_tp2/torch_dist"));
  ASSERT_EQ(ours->tensors().size(), theirs->tensors().size());
  for (const DistTensor& t : theirs->tensors()) {
    SCOPED_TRACE(t.key);
    const DistTensor* u = ours->find(t.key);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->shape, t.shape);
    // chunk layout: the same set of (offsets, sizes)
    auto boxes = [](const DistTensor& x) {
      std::vector<std::string> b;
      for (const DistChunk& c : x.chunks) b.push_back(c.offsets.to_string() + c.sizes.to_string());
      std::sort(b.begin(), b.end());
      return b;
    };
    EXPECT_EQ(boxes(*u), boxes(t));
    EXPECT_TRUE(mbtest::BitwiseEqual(ours->read(t.key).to(t.dtype), theirs->read(t.key)));
  }
  // and every extra-state object Megatron-Core wrote (the model's, not the rng or common state)
  for (const DistBytes& b : theirs->byte_items()) {
    if (b.key.rfind("rng_state", 0) == 0 || b.key.rfind("common_state", 0) == 0) continue;
    EXPECT_NE(ours->find_bytes(b.key), nullptr) << b.key;
  }
  auto common = ours->common_state();
  ASSERT_NE(common.state, nullptr);
  EXPECT_EQ(pickle::as_int(pickle::object_attr(pickle::dict_get(common.state, "args"), "tensor_model_parallel_size"), "", ""), 2);
}

TEST(BridgeMegatron, LegacyImportMatchesMegatronsRankFiles) {
  // Our TP2 legacy shards of Megatron's own weights equal the shards Megatron-Core wrote at TP2.
  std::string work = mbtest::scratch_dir("legacy");
  exported(native("dense_tp1/torch_dist"), work + "/hf", "llama");
  ImportOptions o;
  o.target.format = Format::kMegatronLegacy;
  o.target.layout.tp = 2;
  o.target.layout.spec = MegatronSpec::kLocal;
  o.target.fsync = false;
  import_checkpoint(work + "/hf", work + "/ours", o);
  auto ours = MegatronLegacyCheckpoint::open(work + "/ours");
  auto theirs = MegatronLegacyCheckpoint::open(native("dense_tp2/legacy"));
  ASSERT_EQ(ours->ranks().size(), theirs->ranks().size());
  for (size_t r = 0; r < theirs->ranks().size(); ++r) {
    const pickle::Node* a = theirs->models(r)[0].second;
    const pickle::Node* b = ours->models(r)[0].second;
    size_t compared = 0;
    for (size_t k = 0; k + 1 < a->items.size(); k += 2) {
      const std::string& key = a->items[k]->text;
      const pickle::Node* va = a->items[k + 1];
      const pickle::Node* vb = pickle::dict_get(b, key);
      ASSERT_NE(vb, nullptr) << "rank " << r << " lacks " << key;
      if (va->kind != pickle::Kind::kTensor) {
        EXPECT_EQ(vb->kind, pickle::Kind::kNone) << key;
        continue;
      }
      Tensor ta = theirs->rank_file(r).tensor(va);
      EXPECT_TRUE(mbtest::BitwiseEqual(ours->rank_file(r).tensor(vb).to(ta.dtype()), ta)) << "rank " << r << " " << key;
      ++compared;
    }
    EXPECT_GT(compared, 10u);
  }
}

TEST(BridgeMegatron, OptimizerStateInTorchDistIsSkippedButUnknownTensorsAreNot) {
  // A training run saves optimizer state in the same torch_dist checkpoint as the model; export reads past it.
  std::string work = mbtest::scratch_dir("optimizer_state");
  std::string hf = mbtest::fixture("bridge/hf/qwen3");
  ImportOptions io;
  io.target.fsync = false;
  import_checkpoint(hf, work + "/imported", io);
  auto ck = TorchDistCheckpoint::open(join_path(work + "/imported", "iter_0000000"));
  const TorchDistCheckpoint& src = *ck;
  auto rewrite = [&](const std::string& root, const std::vector<std::string>& extra_keys) {
    DistWriteOptions o;
    o.fsync = false;
    TorchDistWriter w(join_path(root, "iter_0000000"), 1, o);
    for (const DistTensor& t : src.tensors()) w.add_tensor(t.key, src.read(t.key));
    const std::string& some_param = src.tensors()[0].key;
    for (const std::string& k : extra_keys) w.add_tensor(k + some_param, src.read(some_param).to(DType::F32));
    for (const DistBytes& b : src.byte_items()) {
      if (b.key == "common_state/shard_0_1") continue;
      ByteView v = src.read_bytes(b);
      w.add_bytes(b.key, std::string(reinterpret_cast<const char*>(v.data), v.size), 0);
    }
    TorchDistCheckpoint::CommonState common = src.common_state();
    TorchSaveWriter cw;
    w.set_common_state(cw, cw.import(*common.file, common.state));
    w.finish();
    write_tracker(root, 0);
    make_directories(join_path(root, "mbridge_hf"));
    for (const std::string& f : list_directory(join_path(work + "/imported", "mbridge_hf")))
      mbtest::write_file(join_path(join_path(root, "mbridge_hf"), f),
                         mbtest::read_file(join_path(join_path(work + "/imported", "mbridge_hf"), f)));
  };
  rewrite(work + "/trained", {"optimizer.state.exp_avg.", "optimizer.state.fp32_param.", "chained_1.optimizer.state.exp_avg_sq."});
  ExportOptions eo;
  eo.target.fsync = false;
  export_checkpoint(work + "/trained", work + "/hf", eo);
  auto a = open_tensor_files(hf);
  auto b = open_tensor_files(work + "/hf");
  for (const CompareRow& row : compare_tensor_files(*a, *b)) EXPECT_TRUE(row.equal) << row.name;

  rewrite(work + "/unknown", {"mystery."});
  try {
    export_checkpoint(work + "/unknown", work + "/hf_unknown", eo);
    ADD_FAILURE() << "a tensor no parameter uses was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mystery."), std::string::npos) << e.what();
  }
  EXPECT_FALSE(path_exists(work + "/hf_unknown"));
}

TEST(BridgeMegatron, LegacyRankFoldersAreNamedAsMegatronNamesThem) {
  // megatron/training/checkpointing.py get_checkpoint_name: mp_rank_TT, then _PPP with pipeline parallelism,
  // then _EEE with expert parallelism -- so at PP 1 the expert rank follows the tensor rank directly
  struct Case {
    int pp, ep;
    const char* last_folder;
  };
  for (const Case& c : {Case{1, 1, "mp_rank_00"}, Case{2, 1, "mp_rank_00_001"}, Case{1, 2, "mp_rank_00_001"},
                        Case{2, 2, "mp_rank_00_001_001"}}) {
    SCOPED_TRACE(c.last_folder);
    std::string work = mbtest::scratch_dir(cat("rank_names_pp", c.pp, "_ep", c.ep));
    ImportOptions io;
    io.target.format = Format::kMegatronLegacy;
    io.target.layout.pp = c.pp;
    io.target.layout.ep = c.ep;
    io.target.fsync = false;
    import_checkpoint(mbtest::fixture("bridge/hf/mixtral"), work + "/mg", io);
    std::vector<std::string> folders = list_directory(work + "/mg/iter_0000000");
    ASSERT_EQ(folders.size(), static_cast<size_t>(c.pp * c.ep));
    EXPECT_EQ(folders.back(), c.last_folder);
    // and read back with the ranks where they belong
    auto ck = MegatronLegacyCheckpoint::open(work + "/mg");
    EXPECT_EQ(ck->pp_size(), c.pp);
    EXPECT_EQ(std::max(ck->ep_size(), 1), c.ep);
    // the Transformer Engine spec's grouped expert names need --moe-grouped-gemm in Megatron
    const pickle::Node* grouped = pickle::object_attr(ck->args(), "moe_grouped_gemm");
    EXPECT_TRUE(grouped && pickle::as_bool(grouped, "args", "moe_grouped_gemm"));
  }
}

TEST(BridgeMegatron, GatedChunksFromTheHalvesEqualChunksOfTheAssembledParameter) {
  // an import writes gate and up straight from the Hugging Face files; the chunks must be those of [gate; up]
  Tensor gate = Tensor::empty(DType::I32, Dims{8, 3}), up = Tensor::empty(DType::I32, Dims{8, 3});
  for (int i = 0; i < 24; ++i) {
    gate.mutable_data_as<int32_t>()[i] = i;
    up.mutable_data_as<int32_t>()[i] = 100 + i;
  }
  Tensor full = Tensor::cat({gate, up}, 0);
  for (int tp : {1, 2, 4}) {
    SCOPED_TRACE(tp);
    std::vector<TpChunk> a = tp_chunks(full, TpSplit::kGatedColumn, tp), b = tp_chunks_gated(gate, up, tp);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].tp_rank, b[i].tp_rank);
      EXPECT_EQ(a[i].offsets, b[i].offsets);
      EXPECT_TRUE(mbtest::BitwiseEqual(a[i].data.contiguous(), b[i].data.contiguous()));
    }
  }
}

TEST(BridgeMegatron, ImportWithACastWritesTheSameValues) {
  // the gate/up path casts each half itself: F32 import of a bf16 model, then compared value by value
  std::string work = mbtest::scratch_dir("import_cast");
  std::string hf = mbtest::fixture("bridge/hf/qwen3");
  for (int tp : {1, 2}) {
    ImportOptions io;
    io.target.dtype = DType::F32;
    io.target.layout.tp = tp;
    io.target.fsync = false;
    std::string out = cat(work, "/tp", tp);
    import_checkpoint(hf, out, io);
    auto a = open_param_source(hf);
    auto b = open_param_source(out);
    for (const VerifyRow& r : verify_models(*a, *b)) {
      EXPECT_TRUE(r.equal) << r.param << ": " << r.note;
      EXPECT_NE(r.b.find("F32"), std::string::npos) << r.param << " " << r.b;
    }
  }
}
