// Ranks that are processes: the launchers' environment variables (launch_info), and the TCP rendezvous and
// collectives of a run (process_group), here with each rank a thread connecting over localhost as a process
// would; the whole command run as separate processes is in tests/cli/test_cli.sh. A CUDA run's ranks refused
// their GPUs (the rest of the GPU side: tests/gpu/test_cuda_parallel.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <thread>

#include "bridge/param_source.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "engine/distributed_model.h"
#include "engine/launch_info.h"
#include "engine/process_group.h"
#include "support/greedy_reference.h"
#include "support/test_support.h"

using namespace mb;
using engine::LaunchInfo;

namespace {

engine::EnvLookup env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

// fn(group) on a thread per rank of a run of `world` meeting at a fresh port.
template <class Fn>
void on_ranks(int world, const Fn& fn) {
  const int port = mbtest::free_port();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      LaunchInfo info;
      info.rank = r;
      info.world = world;
      info.master_port = port;
      fn(engine::ProcessGroup::connect(info, 30));
    });
  for (auto& t : threads) t.join();
}

}  // namespace

TEST(LaunchInfo, EachLaunchersVariablesAreRead) {
  EXPECT_FALSE(engine::launch_info(env_of({})).has_value());
  auto torchrun = engine::launch_info(env_of({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                              {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "1234"}}));
  ASSERT_TRUE(torchrun.has_value());
  EXPECT_EQ(torchrun->launcher, "torchrun");
  EXPECT_EQ(torchrun->rank, 3);
  EXPECT_EQ(torchrun->world, 4);
  EXPECT_EQ(torchrun->local_rank, 1);
  EXPECT_EQ(torchrun->master_addr, "node7");
  EXPECT_EQ(torchrun->master_port, 1234);
  auto mpirun = engine::launch_info(env_of({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"},
                                            {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"MB_RENDEZVOUS_TIMEOUT", "7"}}));
  ASSERT_TRUE(mpirun.has_value());
  EXPECT_EQ(mpirun->launcher, "mpirun");
  EXPECT_EQ(mpirun->local_rank, 1);
  EXPECT_EQ(mpirun->master_addr, "127.0.0.1");
  EXPECT_EQ(mpirun->master_port, 29500);
  EXPECT_EQ(mpirun->timeout_seconds, 7);
  auto slurm = engine::launch_info(env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}}));
  ASSERT_TRUE(slurm.has_value());
  EXPECT_EQ(slurm->launcher, "slurm");
  EXPECT_EQ(slurm->rank, 5);
  auto mpich = engine::launch_info(env_of({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}}));
  ASSERT_TRUE(mpich.has_value());
  EXPECT_EQ(mpich->launcher, "mpich");
  // torchrun's variables win over Slurm's (torchrun inside an srun allocation)
  EXPECT_EQ(engine::launch_info(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "1"}}))->launcher,
            "torchrun");
}

TEST(LaunchInfo, MalformedValuesAreRefusedByName) {
  for (const auto& vars : std::vector<std::map<std::string, std::string>>{
           {{"RANK", "x"}, {"WORLD_SIZE", "2"}},
           {{"RANK", "2"}, {"WORLD_SIZE", "2"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "0"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}},
           {{"RANK", "-1"}, {"WORLD_SIZE", "2"}}}) {
    try {
      engine::launch_info(env_of(vars));
      ADD_FAILURE() << "accepted " << vars.begin()->second;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("environment variable"), std::string::npos) << e.what();
    }
  }
}

TEST(ProcessGroup, RanksMeetAndTheirGroupsGiveEveryMemberTheSameAnswer) {
  const int world = 4;  // as TP2 x PP2: tensor groups {0,1} {2,3}, pipeline groups {0,2} {1,3}
  std::vector<std::vector<float>> reduced(world), gathered(world), broadcast(world), received(world);
  on_ranks(world, [&](std::shared_ptr<engine::ProcessGroup> run) {
    const int r = run->rank(), stage = r / 2, t = r % 2;
    auto tensor = run->group({stage * 2, stage * 2 + 1});
    auto pipeline = run->group({t, 2 + t});
    auto everyone = run->group({0, 1, 2, 3});
    EXPECT_EQ(tensor->rank(), t);
    EXPECT_EQ(pipeline->rank(), stage);
    std::vector<float> v{float(r + 1), 0.5f};
    tensor->all_reduce_sum(v.data(), v.size());
    reduced[r] = v;
    std::vector<float> all(2 * world);
    const float mine[2] = {float(r), float(10 * r)};
    everyone->all_gather(mine, 2, all.data());
    gathered[r] = all;
    std::vector<float> b(3, float(r));
    everyone->broadcast(b.data(), b.size(), 3);
    broadcast[r] = b;
    if (stage == 0) {  // a large message down the pipeline, and an answer back
      std::vector<float> big(1 << 20, float(r));
      pipeline->send(big.data(), big.size(), 1);
      float back = 0;
      pipeline->recv(&back, 1, 1);
      received[r] = {back};
    } else {
      std::vector<float> big(1 << 20);
      pipeline->recv(big.data(), big.size(), 0);
      EXPECT_EQ(big.front(), float(t));
      EXPECT_EQ(big.back(), float(t));
      const float answer = 100.f + float(r);
      pipeline->send(&answer, 1, 0);
      received[r] = {big[12345]};
    }
  });
  for (int r = 0; r < world; ++r) {
    const int stage = r / 2;
    EXPECT_EQ(reduced[r], (std::vector<float>{float(stage * 4 + 3), 1.f})) << r;
    EXPECT_EQ(gathered[r], (std::vector<float>{0, 0, 1, 10, 2, 20, 3, 30})) << r;
    EXPECT_EQ(broadcast[r], (std::vector<float>(3, 3.f))) << r;
  }
  EXPECT_EQ(received[0], (std::vector<float>{102.f}));
  EXPECT_EQ(received[1], (std::vector<float>{103.f}));
  EXPECT_EQ(received[2], (std::vector<float>{0.f}));
  EXPECT_EQ(received[3], (std::vector<float>{1.f}));
}

TEST(ProcessGroup, APeerThatGoesAwayIsAnErrorNotAWait) {
  std::atomic<int> status{0};
  on_ranks(2, [&](std::shared_ptr<engine::ProcessGroup> run) {
    auto everyone = run->group({0, 1});
    if (run->rank() == 1) return;  // leaves: its connections close with its group
    float x = 0;
    try {
      everyone->recv(&x, 1, 1);
    } catch (const Error& e) {
      status = static_cast<int>(e.status());
      EXPECT_NE(std::string(e.what()).find("rank 1"), std::string::npos) << e.what();
    }
  });
  EXPECT_EQ(status.load(), static_cast<int>(Status::kNetwork));
}

TEST(ProcessGroup, RanksThatDoNotComeOrDoNotMatchAreRefused) {
  LaunchInfo alone;
  alone.rank = 0;
  alone.world = 2;
  alone.master_port = mbtest::free_port();
  try {
    engine::ProcessGroup::connect(alone, 0.5);
    ADD_FAILURE() << "a run of two met with one";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kNetwork);
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  // rank 1 of a run of 3 knocking at a run of 2
  const int port = mbtest::free_port();
  std::atomic<int> status{0};
  std::thread zero([&] {
    LaunchInfo i;
    i.world = 2;
    i.master_port = port;
    status = static_cast<int>(mbtest::status_of([&] { engine::ProcessGroup::connect(i, 10); }));
  });
  LaunchInfo stranger;
  stranger.rank = 1;
  stranger.world = 3;
  stranger.master_port = port;
  mbtest::status_of([&] { engine::ProcessGroup::connect(stranger, 3); });
  zero.join();
  EXPECT_EQ(status.load(), static_cast<int>(Status::kNetwork));
  EXPECT_EQ(mbtest::status_of([&] {
    LaunchInfo bad;
    bad.rank = 2;
    bad.world = 2;
    engine::ProcessGroup::connect(bad, 1);
  }), Status::kInvalidArgument);
}

// The launcher's ranks of a CUDA run, asking for a GPU past those this machine has (CI has none): each is refused
// by name, after the rendezvous and before NCCL's set-up, and none is left waiting for the others.
TEST(DistributedModel, RanksRefusedTheirGpuAreNamedAndNoneWaits) {
  const auto refs = mbtest::greedy_references();
  const auto ref = std::find_if(refs.begin(), refs.end(), [](const auto& r) { return r.family == "llama31"; });
  ASSERT_NE(ref, refs.end());
  auto source = bridge::open_hf_source(ref->hf_dir);
  const int missing = cuda_device_count();  // one past the last GPU
  const int port = mbtest::free_port();
  const auto outcome = mbtest::run_ranks(2, [&](int r) {
    LaunchInfo launch;
    launch.rank = r, launch.world = 2, launch.local_rank = r, launch.master_port = port;
    launch.timeout_seconds = 30;
    engine::DistributedModel model(*source, {2, 1, false, true}, "cuda:" + std::to_string(missing), launch);
  });
  for (int r = 0; r < 2; ++r) {
    const std::string& message = outcome[r].message;
    if (outcome[r].status == Status::kUnsupported) {  // a build without CUDA says so
      EXPECT_NE(message.find("built without CUDA"), std::string::npos) << message;
      continue;
    }
    EXPECT_EQ(outcome[r].status, Status::kInvalidArgument) << message;
    EXPECT_NE(message.find("rank " + std::to_string(r) + " takes GPU " + std::to_string(missing) +
                           "; GPUs visible: " + std::to_string(missing)),
              std::string::npos)
        << message;
  }
}
