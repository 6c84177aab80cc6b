// Tensor-, pipeline- and expert-parallel runs of the CUDA backend (GPU machine only; tests/gpu/run_gpu_tests.sh):
// - every rank on GPU 0, their collectives staged through host memory: each family's transformers tokens
//   (alone, batched, a batch of three) and logits within bf16 tolerance at TP2, PP2, TP2 x PP2, and EP2 on the
//   mixtures, as one rank gives them; decode steps in pipeline micro-batches;
// - NCCL's collectives (device_collectives.cpp) on as many GPUs as are visible, and a run of rank r on GPU r
//   when there are enough of them (NCCL does not allow two ranks on one GPU), a launcher's ranks on GPUs of their
//   own, and one process of a launcher's run through NCCL.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdio>
#include <thread>

#include "bridge/param_source.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "engine/communicator.h"
#include "engine/cuda/cuda_model.h"
#include "engine/cuda/device_collectives.h"
#include "engine/distributed_model.h"
#include "engine/model.h"
#include "support/greedy_reference.h"
#include "support/test_support.h"

using namespace mb;
using engine::ParallelOptions;

namespace {

constexpr double kLogitsTolerance = 3e-2;  // bf16 against transformers' float32 (as test_cuda_engine)

// Families the GPU's parallel runs take (multi-latent attention runs in parallel on the CPU backend only).
bool runs_in_parallel_on_gpu(const bridge::ModelConfig& c) { return !c.mla; }

}  // namespace

TEST(CudaParallel, EveryFamilyOnOneGpuGivesTransformersTokens) {
  int families = 0;
  for (const auto& ref : mbtest::greedy_references()) {
    auto source = bridge::open_hf_source(ref.hf_dir);
    if (!runs_in_parallel_on_gpu(source->config())) {
      EXPECT_EQ(mbtest::status_of([&] { engine::load_model(*source, "cuda:0", {2, 1, false}); }), Status::kUnsupported);
      continue;
    }
    ++families;
    std::vector<ParallelOptions> runs{{2, 1, false}, {1, 2, false}, {2, 2, false}};
    if (source->config().is_moe()) runs.push_back({2, 1, true});
    engine::CudaModel one(*source, 0);
    const std::vector<float> single = one.forward(ref.cases[0].scored_sequence());
    for (const ParallelOptions& o : runs) {
      auto model = engine::load_model(*source, "cuda:0", o);
      mbtest::expect_transformers_tokens(*model, ref, ref.family + " " + mbtest::parallel_name(o), {kLogitsTolerance, true, true});
      const std::vector<float> split = model->forward(ref.cases[0].scored_sequence());
      const double diff = mbtest::relative_max_diff(split.data(), single.data(), single.size());
      std::printf("%-40s against one rank: %.2e\n", (ref.family + " " + mbtest::parallel_name(o)).c_str(), diff);
      EXPECT_LE(diff, kLogitsTolerance) << ref.family << " " << mbtest::parallel_name(o);
    }
  }
  EXPECT_GE(families, 13);
}

// Decode steps split into micro-batches (from 1 row a micro-batch instead of the default's 256): the stages
// overlap on their sequences and every sequence still gets transformers' tokens, alone and in batches of two
// and three (split 1 + 1 and 2 + 1).
TEST(CudaParallel, PipelineDecodeInMicroBatchesGivesTransformersTokens) {
  struct MicroBatchRows {  // set for this test only, even when it throws
    MicroBatchRows() { setenv("MB_CUDA_DECODE_MICRO_BATCH_ROWS", "1", 1); }
    ~MicroBatchRows() { unsetenv("MB_CUDA_DECODE_MICRO_BATCH_ROWS"); }
  } rows;
  int families = 0;
  for (const auto& ref : mbtest::greedy_references()) {
    if (ref.family != "llama31" && ref.family != "qwen3_moe" && ref.family != "gemma2" && ref.family != "minicpm")
      continue;
    ++families;
    auto source = bridge::open_hf_source(ref.hf_dir);
    for (const ParallelOptions o : {ParallelOptions{1, 2, false}, ParallelOptions{2, 2, false}}) {
      auto model = engine::load_model(*source, "cuda:0", o);
      mbtest::expect_transformers_tokens(*model, ref, ref.family + " " + mbtest::parallel_name(o) + ", decode micro-batches",
                                         {kLogitsTolerance, false, true});
    }
  }
  EXPECT_EQ(families, 4);
}

TEST(CudaParallel, RanksOnOneGpuReadAMegatronCheckpointOfAnotherLayout) {
  const std::string root = mbtest::scratch_dir("cuda_parallel");
  for (const auto& ref : mbtest::greedy_references()) {
    if (ref.family != "llama31" && ref.family != "qwen3_moe") continue;
    auto source = mbtest::open_megatron_copy(ref, root);  // TP2 x PP2 torch_dist
    auto model = engine::load_model(*source, "cuda:0", {2, 2, false});
    mbtest::expect_transformers_tokens(*model, ref, ref.family + " from Megatron, TP2 x PP2 on one GPU",
                                       {kLogitsTolerance, true, false});
  }
}

TEST(CudaParallel, NcclCollectivesOnEveryVisibleGpu) {
  const int n = cuda_device_count();
  ASSERT_GE(n, 1);
  std::vector<int> devices(static_cast<size_t>(n));
  for (int d = 0; d < n; ++d) devices[static_cast<size_t>(d)] = d;
  auto group = engine::cuda::nccl_group(devices);
  ASSERT_EQ(group.size(), static_cast<size_t>(n));
  std::vector<std::vector<float>> reduced(n), gathered(n), broadcast(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      ASSERT_EQ(cudaSetDevice(r), cudaSuccess);
      cudaStream_t stream;
      ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
      auto c = engine::cuda::on_stream(group[static_cast<size_t>(r)], stream);
      EXPECT_EQ(c->rank(), r);
      EXPECT_TRUE(c->on_device());
      float* d = nullptr;  // [mine (2) | gathered (2n) | broadcast (2)]
      ASSERT_EQ(cudaMalloc(&d, (4 + 2 * n) * sizeof(float)), cudaSuccess);
      const float mine[2] = {float(r + 1), float(-r)}, own[2] = {float(r), float(r)};
      cudaMemcpy(d, mine, sizeof mine, cudaMemcpyHostToDevice);
      cudaMemcpy(d + 2 + 2 * n, own, sizeof own, cudaMemcpyHostToDevice);
      c->all_gather(d, 2, d + 2);
      c->all_reduce_sum(d, 2);
      c->broadcast(d + 2 + 2 * n, 2, n - 1);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      reduced[r].resize(2);
      gathered[r].resize(2 * n);
      broadcast[r].resize(2);
      cudaMemcpy(reduced[r].data(), d, 2 * sizeof(float), cudaMemcpyDeviceToHost);
      cudaMemcpy(gathered[r].data(), d + 2, 2 * n * sizeof(float), cudaMemcpyDeviceToHost);
      cudaMemcpy(broadcast[r].data(), d + 2 + 2 * n, 2 * sizeof(float), cudaMemcpyDeviceToHost);
      cudaFree(d);
      cudaStreamDestroy(stream);
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(reduced[r], (std::vector<float>{float(n * (n + 1) / 2), float(-n * (n - 1) / 2)})) << "member " << r;
    for (int m = 0; m < n; ++m) {
      EXPECT_EQ(gathered[r][2 * m], float(m + 1)) << "member " << r;
      EXPECT_EQ(gathered[r][2 * m + 1], float(-m)) << "member " << r;
    }
    EXPECT_EQ(broadcast[r], (std::vector<float>{float(n - 1), float(n - 1)})) << "member " << r;
  }
}

TEST(CudaParallel, RankPerGpuRunsWhenThereAreEnoughGpus) {
  const int n = cuda_device_count();
  const auto refs = mbtest::greedy_references();
  for (const auto& ref : refs) {
    if (ref.family != "llama31" && ref.family != "mixtral") continue;
    auto source = bridge::open_hf_source(ref.hf_dir);
    if (n < 2) {  // what a machine of one GPU says, and does
      try {
        engine::load_model(*source, "cuda", {2, 1, false});
        ADD_FAILURE() << "two ranks on one GPU through NCCL were accepted";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("need 2 GPUs, 1 visible"), std::string::npos) << e.what();
      }
      continue;
    }
    for (const ParallelOptions o : {ParallelOptions{2, 1, false}, ParallelOptions{1, 2, false}, ParallelOptions{2, 1, true}}) {
      if (o.expert_parallel && !source->config().is_moe()) continue;
      if (o.tp * o.pp > n) continue;
      auto model = engine::load_model(*source, "cuda", o);
      mbtest::expect_transformers_tokens(*model, ref, ref.family + " " + mbtest::parallel_name(o) + " (NCCL)", {kLogitsTolerance, true, true});
    }
  }
}

// The ranks of a launcher's run, each on a GPU of its own (what torchrun --nproc_per_node=2 starts): they meet over
// TCP, rank 0's NCCL id is handed round, each joins with ncclCommInitRank and splits its groups. Here each rank is
// a thread of this process, as it would be a process (tests/gpu/run_multi_gpu.sh starts them as processes of
// mbridge generate); every rank checks the tokens and logits it is given. With one GPU, rank 1 is refused its GPU
// and rank 0 hears of it instead of waiting for it in NCCL's set-up.
TEST(CudaParallel, LauncherRanksOnGpusOfTheirOwnGiveTransformersTokens) {
  const int n = cuda_device_count();
  for (const auto& ref : mbtest::greedy_references()) {
    if (ref.family != "llama31" && ref.family != "mixtral") continue;
    auto source = bridge::open_hf_source(ref.hf_dir);
    for (ParallelOptions o : {ParallelOptions{2, 1, false}, ParallelOptions{1, 2, false}, ParallelOptions{2, 1, true}}) {
      if (o.expert_parallel && !source->config().is_moe()) continue;
      o.one_process_per_rank = true;
      const std::string what = ref.family + " " + mbtest::parallel_name(o) + ", a launcher's ranks on GPUs 0 and 1";
      const int port = mbtest::free_port();
      const auto outcome = mbtest::run_ranks(2, [&](int r) {
        engine::LaunchInfo launch;
        launch.launcher = "torchrun";
        launch.rank = r, launch.world = 2, launch.local_rank = r, launch.master_port = port;
        launch.timeout_seconds = 60;
        engine::DistributedModel model(*source, o, "cuda", launch);
        mbtest::expect_transformers_tokens(model, ref, what + " (rank " + std::to_string(r) + ")",
                                           {kLogitsTolerance, false, true});
      });
      if (n >= 2) {
        EXPECT_EQ(outcome[0].status, Status::kOk) << what << ": " << outcome[0].message;
        EXPECT_EQ(outcome[1].status, Status::kOk) << what << ": " << outcome[1].message;
      } else {
        EXPECT_EQ(outcome[1].status, Status::kInvalidArgument) << what;
        EXPECT_NE(outcome[1].message.find("rank 1 takes GPU 1 (its local rank); GPUs visible: 1"), std::string::npos)
            << outcome[1].message;
        EXPECT_EQ(outcome[0].status, Status::kNetwork) << what << ": " << outcome[0].message;
        EXPECT_NE(outcome[0].message.find("rank 1"), std::string::npos) << outcome[0].message;
      }
    }
  }
}

TEST(CudaParallel, OneProcessPerRankThroughNcclOfOneRank) {
  // (a launcher's run of one process: the NCCL id made and handed round, the world split into its groups, the
  // rank's collectives on NCCL; runs of more processes need a GPU each)
  const auto refs = mbtest::greedy_references();
  for (const auto& ref : refs) {
    if (ref.family != "llama31") continue;
    auto source = bridge::open_hf_source(ref.hf_dir);
    engine::LaunchInfo launch;
    launch.master_port = mbtest::free_port();
    engine::DistributedModel model(*source, {1, 1, false, true}, "cuda", launch);
    mbtest::expect_transformers_tokens(model, ref, "llama31 as one process of a launcher's run (NCCL)",
                                       {kLogitsTolerance, true, false});
  }
}
