#include "engine/launch_info.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace mb::engine {
namespace {

int number(const EnvLookup& env, const char* name, int fallback, int low, int high) {
  const char* v = env(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  if (errno || *end || n < low || n > high)
    fail(Status::kInvalidArgument, "environment variable ", name, "='", v, "': expected a number in [", low, ", ", high, "]");
  return static_cast<int>(n);
}

struct Names {
  const char *launcher, *rank, *world, *local_rank;
};

constexpr Names kLaunchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
};

constexpr int kMaxRanks = 1 << 16;

}  // namespace

std::optional<LaunchInfo> launch_info(const EnvLookup& env) {
  for (const Names& n : kLaunchers) {
    if (!env(n.rank) || !env(n.world)) continue;
    LaunchInfo info;
    info.launcher = n.launcher;
    info.world = number(env, n.world, 1, 1, kMaxRanks);
    info.rank = number(env, n.rank, 0, 0, kMaxRanks - 1);
    if (info.rank >= info.world)
      fail(Status::kInvalidArgument, "environment variable ", n.rank, "=", info.rank, " is not below ", n.world, "=", info.world);
    info.local_rank = number(env, n.local_rank, 0, 0, kMaxRanks - 1);
    if (const char* addr = env("MASTER_ADDR"); addr && *addr) info.master_addr = addr;
    info.master_port = number(env, "MASTER_PORT", info.master_port, 1, 65535);
    info.timeout_seconds = number(env, "MB_RENDEZVOUS_TIMEOUT", info.timeout_seconds, 1, 86400);
    return info;
  }
  return std::nullopt;
}

std::optional<LaunchInfo> launch_info() {
  return launch_info([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace mb::engine
