// Tensor, pipeline and expert parallelism on the CPU backend: the in-process communicator's collectives, each
// rank's part of the model (rank_source) against the bridge's own split, and every family's parallel runs
// giving transformers' greedy tokens and logits (tests/fixtures/generate_engine_fixtures.py), read from the
// Hugging Face folder and from a Megatron checkpoint of another layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <thread>

#include "bridge/parallel_layout.h"
#include "bridge/convert.h"
#include "bridge/param_source.h"
#include "engine/communicator.h"
#include "engine/cpu/cpu_model.h"
#include "engine/parallel_model.h"
#include "engine/rank_plan.h"
#include "support/greedy_reference.h"
#include "support/test_support.h"

using namespace mb;
using engine::ParallelOptions;

namespace {

// fn(member) on a thread per member of a fresh group of `size`.
template <class Fn>
void on_members(int size, const Fn& fn) {
  auto group = engine::LocalGroup::create(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { fn(*group->member(r)); });
  for (auto& t : threads) t.join();
}

const mbtest::GreedyReference& reference(const std::vector<mbtest::GreedyReference>& refs, const std::string& family) {
  for (const auto& r : refs)
    if (r.family == family) return r;
  ADD_FAILURE() << "no greedy reference " << family;
  return refs.front();
}

// A model whose vocabulary is the first `rows` rows of another's (a size tensor parallelism does not divide).
class FirstVocabularyRows final : public bridge::ParamSource {
 public:
  FirstVocabularyRows(std::unique_ptr<bridge::ParamSource> full, int64_t rows) : full_(std::move(full)), rows_(rows) {
    path_ = full_->path();
    bridge::ModelConfig c = full_->config();
    c.vocab_size = rows;
    set_config(c, rows);
  }
  const char* kind() const override { return full_->kind(); }
  DType dtype(const bridge::ParamInfo& p) const override { return full_->dtype(full_info(p)); }
  Tensor read(const bridge::ParamInfo& p) const override {
    const Tensor t = full_->read(full_info(p));
    return bridge::is_vocab(p.key.kind) ? t.narrow(0, 0, rows_) : t;
  }

 private:
  const bridge::ParamInfo& full_info(const bridge::ParamInfo& p) const {
    for (const bridge::ParamInfo& f : full_->params())
      if (f.key == p.key) return f;
    fail(Status::kInternal, "no ", bridge::describe(p.key));
  }
  std::unique_ptr<bridge::ParamSource> full_;
  int64_t rows_;
};

}  // namespace

TEST(LocalGroup, CollectivesGiveEveryMemberTheSameAnswer) {
  const int n = 3;
  std::vector<std::vector<float>> reduced(n), gathered(n), broadcast(n), received(n);
  on_members(n, [&](engine::Communicator& c) {
    const int r = c.rank();
    std::vector<float> v{float(r + 1), float(10 * (r + 1))};
    c.all_reduce_sum(v.data(), v.size());
    reduced[r] = v;
    const float mine[2] = {float(r), float(-r)};
    gathered[r].resize(2 * n);
    c.all_gather(mine, 2, gathered[r].data());
    std::vector<float> b{float(r), float(r)};
    c.broadcast(b.data(), b.size(), 2);
    broadcast[r] = b;
    // a ring: each sends two messages to the next and receives them, in order, from the one before
    const float first[1] = {float(100 + r)}, second[2] = {float(200 + r), 1.f};
    c.send(first, 1, (r + 1) % n);
    c.send(second, 2, (r + 1) % n);
    std::vector<float> a(1), b2(2);
    c.recv(a.data(), 1, (r + n - 1) % n);
    c.recv(b2.data(), 2, (r + n - 1) % n);
    received[r] = {a[0], b2[0]};
  });
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(reduced[r], (std::vector<float>{6.f, 60.f}));
    EXPECT_EQ(gathered[r], (std::vector<float>{0.f, 0.f, 1.f, -1.f, 2.f, -2.f}));
    EXPECT_EQ(broadcast[r], (std::vector<float>{2.f, 2.f}));
    const int from = (r + n - 1) % n;
    EXPECT_EQ(received[r], (std::vector<float>{float(100 + from), float(200 + from)}));
  }
}

TEST(LocalGroup, AbortWakesWaitingMembersAndResetMakesTheGroupUsableAgain) {
  auto group = engine::LocalGroup::create(2);
  auto a = group->member(0), b = group->member(1);
  std::atomic<int> status{0};
  std::thread waiting([&] {
    std::vector<float> v(4, 1.f);
    try {
      a->all_reduce_sum(v.data(), v.size());  // member 1 never comes
    } catch (const Error& e) {
      status = static_cast<int>(e.status());
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  group->abort();
  waiting.join();
  EXPECT_EQ(status.load(), static_cast<int>(Status::kCancelled));
  float x = 0;
  EXPECT_EQ(mbtest::status_of([&] { b->recv(&x, 1, 0); }), Status::kCancelled);

  group->reset();
  std::vector<float> sums(2);
  std::thread other([&] {
    float v = 2.f;
    b->all_reduce_sum(&v, 1);
    sums[1] = v;
  });
  float v = 5.f;
  a->all_reduce_sum(&v, 1);
  sums[0] = v;
  other.join();
  EXPECT_EQ(sums, (std::vector<float>{7.f, 7.f}));
  EXPECT_EQ(mbtest::status_of([&] { a->broadcast(&v, 1, 2); }), Status::kInvalidArgument);
}

TEST(RankSource, EachRankHoldsItsSplitOfItsStageAsTheBridgeSplitsIt) {
  const auto refs = mbtest::greedy_references();
  const mbtest::GreedyReference& ref = reference(refs, "llama32");  // tied embeddings
  auto full = bridge::open_hf_source(ref.hf_dir);
  const bridge::ModelConfig& c = full->config();
  const ParallelOptions o{2, 2, false};
  for (int rank = 0; rank < 4; ++rank) {
    const engine::RankPlan plan = engine::RankPlan::of(o, rank);
    auto part = engine::rank_source(*full, plan);
    const std::string what = cat("rank ", rank);
    EXPECT_EQ(part->config().num_attention_heads, c.num_attention_heads / 2) << what;
    EXPECT_EQ(part->config().num_query_groups, c.num_query_groups / 2) << what;
    EXPECT_EQ(part->config().ffn_hidden_size, c.ffn_hidden_size / 2) << what;
    EXPECT_EQ(part->vocab_rows(), engine::vocab_rows_per_rank(full->vocab_rows(), 2)) << what;
    const engine::LayerRange layers = engine::stage_layers(c, plan);
    EXPECT_EQ(layers.end - layers.first, c.num_layers / 2);
    bool embedding = false, final_norm = false;
    for (const bridge::ParamInfo& p : part->params()) {
      if (p.key.layer >= 0) {
        EXPECT_TRUE(layers.contains(p.key.layer)) << what << " " << bridge::describe(p.key);
      }
      embedding |= p.key.kind == bridge::ParamKind::kEmbedding;
      final_norm |= p.key.kind == bridge::ParamKind::kFinalNorm;
      const Tensor mine = part->read(p);
      EXPECT_EQ(mine.shape(), p.shape) << what << " " << bridge::describe(p.key);
      for (const bridge::ParamInfo& f : full->params()) {
        if (!(f.key == p.key) || bridge::is_vocab(p.key.kind)) continue;
        const Tensor expected = bridge::tp_split(full->read(f), f.split, 2)[static_cast<size_t>(plan.tp_rank)].contiguous();
        ASSERT_EQ(expected.nbytes(), mine.nbytes()) << what << " " << bridge::describe(p.key);
        EXPECT_EQ(0, std::memcmp(expected.data(), mine.data(), mine.nbytes())) << what << " " << bridge::describe(p.key);
      }
    }
    // the embedding on the first stage, and (tied) the last; the final norm on the last
    EXPECT_EQ(embedding, true) << what;
    EXPECT_EQ(final_norm, plan.last_stage()) << what;
  }
}

// A rank of the checkpoint's own tensor-parallel layout reads only its own shards: after the file of
// tensor-parallel rank 1 is overwritten (the checkpoint already open), rank 0 still reads exactly its parts,
// while rank 1's split parts, read the same way, no longer match (so that file's bytes are really what is read).
TEST(RankSource, ARankOfTheCheckpointsLayoutReadsOnlyItsOwnShards) {
  const auto refs = mbtest::greedy_references();
  const std::string root = mbtest::scratch_dir("rank_own_shards");
  for (const std::string family : {"llama31", "qwen3_moe"}) {
    for (const Format format : {Format::kTorchDist, Format::kMegatronLegacy}) {
      const mbtest::GreedyReference& ref = reference(refs, family);
      const std::string what = family + " " + format_name(format);
      bridge::ImportOptions io;
      io.target.format = format;
      io.target.layout.tp = 2;
      io.target.fsync = false;
      const std::string iteration = bridge::import_checkpoint(ref.hf_dir, root + "/" + family + format_name(format), io);
      auto hf = bridge::open_hf_source(ref.hf_dir);
      bridge::MegatronSourceOptions mo;
      mo.hf_model = ref.hf_dir;
      auto megatron = bridge::open_megatron_source(iteration, mo);
      // rank 1's file, overwritten in place with other bytes of the same length
      const std::string theirs =
          iteration + (format == Format::kTorchDist ? "/__1_0.distcp" : "/mp_rank_01/model_optim_rng.pt");
      mbtest::write_file(theirs, std::string(mbtest::read_file(theirs).size(), '\x5a'));
      int rank1_differs = 0;
      for (int rank : {0, 1}) {
        const engine::RankPlan plan = engine::RankPlan::of({2, 1, false}, rank);
        auto expected = engine::rank_source(*hf, plan);
        auto read = engine::rank_source(*megatron, plan);
        ASSERT_EQ(read->params().size(), expected->params().size()) << what;
        for (size_t i = 0; i < read->params().size(); ++i) {
          const bridge::ParamInfo &p = read->params()[i], &e = expected->params()[i];
          ASSERT_TRUE(p.key == e.key) << what;
          const std::string name = what + " rank " + std::to_string(rank) + " " + bridge::describe(p.key);
          bool same = false;
          try {
            Tensor a = read->read(p), b = expected->read(e);
            if (bridge::is_vocab(p.key.kind)) {  // (the checkpoint's vocabulary may be padded)
              const int64_t rows = std::min(a.size(0), b.size(0));
              a = a.narrow(0, 0, rows), b = b.narrow(0, 0, rows);
            }
            same = bitwise_equal(a, b);
          } catch (const Error& error) {
            if (rank == 0) ADD_FAILURE() << name << ": " << error.what();
          }
          if (rank == 0) {
            EXPECT_TRUE(same) << name;
          } else {
            rank1_differs += !same;
          }
        }
      }
      EXPECT_GT(rank1_differs, 0) << what;
    }
  }
}

TEST(RankSource, VocabularyRowsArePaddedWithZerosOnTheLastRank) {
  const auto refs = mbtest::greedy_references();
  for (const std::string family : {"llama32", "qwen3"}) {  // tied and untied
    // 255 rows: TP2 gives each rank 128, the last one padding row
    FirstVocabularyRows source(bridge::open_hf_source(reference(refs, family).hf_dir), 255);
    auto last = engine::rank_source(source, engine::RankPlan::of({2, 1, false}, 1));
    ASSERT_EQ(last->vocab_rows(), 128);
    for (const bridge::ParamInfo& p : last->params()) {
      if (!bridge::is_vocab(p.key.kind)) continue;
      const Tensor t = last->read(p).to(DType::F32);
      ASSERT_EQ(t.size(0), 128);
      const float* v = t.data_as<float>();
      const int64_t H = t.size(1);
      EXPECT_TRUE(std::all_of(v + 127 * H, v + 128 * H, [](float x) { return x == 0.f; })) << family;
      EXPECT_TRUE(std::any_of(v, v + 127 * H, [](float x) { return x != 0.f; })) << family;
    }
    // the padding row's logit is never one of the vocabulary's: the run's logits are the one-rank model's
    engine::CpuModel one(source);
    engine::ParallelModel two(source, {2, 1, false});
    const std::vector<int32_t> ids = reference(refs, family).cases[0].prompt;
    const std::vector<float> a = one.forward(ids), b = two.forward(ids);
    ASSERT_EQ(a.size(), ids.size() * 255);
    ASSERT_EQ(b.size(), a.size());
    EXPECT_LE(mbtest::relative_max_diff(b.data(), a.data(), a.size()), 1e-5) << family;
    engine::GenerateOptions o;
    o.max_new_tokens = 16;
    EXPECT_EQ(two.generate({ids}, o, {}), one.generate({ids}, o, {})) << family;
  }
}

TEST(RankSource, SizesThatDoNotDivideTheModelAreRefusedByName) {
  const auto refs = mbtest::greedy_references();
  auto full = bridge::open_hf_source(reference(refs, "llama31").hf_dir);
  const bridge::ModelConfig& c = full->config();
  try {
    engine::ParallelModel model(*full, {static_cast<int>(c.num_query_groups) + 1, 1, false});
    FAIL() << "tensor parallel past the query groups was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("tensor parallel"), std::string::npos) << e.what();
  }
  EXPECT_EQ(mbtest::status_of([&] { engine::ParallelModel(*full, ParallelOptions{1, int(c.num_layers) + 1, false}); }),
            Status::kInvalidArgument);
  EXPECT_EQ(mbtest::status_of([&] { engine::ParallelModel(*full, ParallelOptions{2, 1, true}); }), Status::kInvalidArgument);
}

TEST(MicroBatches, ConsecutiveSequencesInAtMostOnePartPerStageSizesWithinOne) {
  auto sizes = [](int batch, int stages) {
    std::vector<std::pair<int, int>> out;
    for (const engine::SequenceRange& r : engine::micro_batches(batch, stages)) out.emplace_back(r.first, r.end);
    return out;
  };
  using V = std::vector<std::pair<int, int>>;
  EXPECT_EQ(sizes(5, 1), (V{{0, 5}}));
  EXPECT_EQ(sizes(5, 2), (V{{0, 3}, {3, 5}}));
  EXPECT_EQ(sizes(7, 3), (V{{0, 3}, {3, 5}, {5, 7}}));
  EXPECT_EQ(sizes(2, 4), (V{{0, 1}, {1, 2}}));
  EXPECT_EQ(sizes(8, 4), (V{{0, 2}, {2, 4}, {4, 6}, {6, 8}}));
  EXPECT_TRUE(sizes(0, 2).empty());
  for (int batch = 1; batch <= 40; ++batch)
    for (int stages = 1; stages <= 9; ++stages) {
      const auto parts = engine::micro_batches(batch, stages);
      ASSERT_EQ(static_cast<int>(parts.size()), std::min(batch, stages));
      int next = 0, smallest = batch, largest = 0;
      for (const auto& r : parts) {
        EXPECT_EQ(r.first, next);
        EXPECT_GT(r.size(), 0);
        smallest = std::min(smallest, r.size());
        largest = std::max(largest, r.size());
        next = r.end;
      }
      EXPECT_EQ(next, batch);
      EXPECT_LE(largest - smallest, 1);
    }
  EXPECT_EQ(mbtest::status_of([] { engine::micro_batches(3, 0); }), Status::kInvalidArgument);
}

TEST(EngineParallel, EveryFamilyGivesTransformersTokensAtTp2Pp2AndBoth) {
  const auto refs = mbtest::greedy_references();
  ASSERT_EQ(refs.size(), 15u);
  for (const auto& ref : refs) {
    auto source = bridge::open_hf_source(ref.hf_dir);
    for (const ParallelOptions o : {ParallelOptions{2, 1, false}, ParallelOptions{1, 2, false}, ParallelOptions{2, 2, false}}) {
      engine::ParallelModel model(*source, o);
      mbtest::expect_transformers_tokens(model, ref, ref.family + " " + mbtest::parallel_name(o), {2e-4, false, true});
    }
  }
}

TEST(EngineParallel, ExpertParallelMixturesGiveTransformersTokens) {
  int moe = 0;
  for (const auto& ref : mbtest::greedy_references()) {
    auto source = bridge::open_hf_source(ref.hf_dir);
    if (!source->config().is_moe()) continue;
    ++moe;
    for (const ParallelOptions o : {ParallelOptions{2, 1, true}, ParallelOptions{2, 2, true}}) {
      engine::ParallelModel model(*source, o);
      mbtest::expect_transformers_tokens(model, ref, ref.family + " " + mbtest::parallel_name(o), {2e-4, false, true});
    }
  }
  EXPECT_GE(moe, 3);  // Mixtral, Qwen3-MoE, DeepSeek-V3
}

TEST(EngineParallel, RanksReadTheirPartsFromAMegatronCheckpointOfAnotherLayout) {
  const std::string root = mbtest::scratch_dir("engine_parallel");
  const auto refs = mbtest::greedy_references();
  for (const std::string family : {"llama31", "qwen3_moe", "gemma2"}) {
    const mbtest::GreedyReference& ref = reference(refs, family);
    auto source = mbtest::open_megatron_copy(ref, root);  // TP2 x PP2 torch_dist
    for (const ParallelOptions o : {ParallelOptions{2, 2, false}, ParallelOptions{1, 2, false}}) {
      engine::ParallelModel model(*source, o);
      mbtest::expect_transformers_tokens(model, ref, family + " from Megatron TP2 x PP2, run at " + mbtest::parallel_name(o));
    }
  }
}

TEST(EngineParallel, SampledTokensAndStopsAgreeWithOneRank) {
  const auto refs = mbtest::greedy_references();
  const mbtest::GreedyReference& ref = reference(refs, "mistral");
  auto source = bridge::open_hf_source(ref.hf_dir);
  engine::CpuModel one(*source);
  engine::ParallelModel four(*source, {2, 2, false});
  engine::GenerateOptions o;
  o.max_new_tokens = 12;
  o.sampling.temperature = 0.9;
  o.sampling.top_k = 20;
  o.sampling.seed = 1234;
  const std::vector<std::vector<int32_t>> prompts{ref.cases[0].prompt, ref.cases[1].prompt};
  EXPECT_EQ(four.generate(prompts, o, {}), one.generate(prompts, o, {}));
  // the host's callback runs once per token (rank 0), and its "stop" ends the sequence on every rank
  std::vector<std::pair<size_t, int64_t>> seen;
  auto stop_at_3 = [&](size_t s, int64_t step, int32_t, const float* logits) {
    EXPECT_NE(logits, nullptr);
    seen.emplace_back(s, step);
    return step < 3;
  };
  const auto out = four.generate(prompts, o, stop_at_3);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].size(), 4u);
  EXPECT_EQ(out[1].size(), 4u);
  EXPECT_EQ(seen.size(), 8u);
}

TEST(EngineParallel, AFailingCallLeavesTheModelUsable) {
  const auto refs = mbtest::greedy_references();
  const mbtest::GreedyReference& ref = reference(refs, "qwen2");
  auto source = bridge::open_hf_source(ref.hf_dir);
  engine::ParallelModel model(*source, {2, 2, false});
  EXPECT_EQ(mbtest::status_of([&] { model.forward({0, static_cast<int32_t>(model.config().vocab_size)}); }),
            Status::kInvalidArgument);
  // a host callback that throws on rank 0 while the other ranks wait for its answer
  engine::GenerateOptions o;
  o.max_new_tokens = 4;
  EXPECT_THROW(model.generate({ref.cases[0].prompt}, o, [](size_t, int64_t, int32_t, const float*) -> bool {
    throw Error(Status::kCancelled, "host gave up");
  }), Error);
  EXPECT_EQ(mbtest::status_of([&] { model.forward_traced({1}, [](const engine::ModuleRecord&) {}); }),
            Status::kUnsupported);
  mbtest::expect_transformers_tokens(model, ref, "qwen2 TP2 x PP2 after failed calls");
}
