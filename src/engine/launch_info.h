// The run this process is one rank of, as the launcher that started it describes it in the environment:
// torchrun / torch.distributed (RANK, WORLD_SIZE, LOCAL_RANK), Open MPI's mpirun (OMPI_COMM_WORLD_RANK, _SIZE,
// _LOCAL_RANK), MPICH / Hydra (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID) or Slurm's srun (SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID), in that order of precedence. Where the ranks meet: MASTER_ADDR and MASTER_PORT (torchrun sets
// them; with the others, export them), 127.0.0.1 and 29500 by default. How long a rank waits for the others
// to arrive: MB_RENDEZVOUS_TIMEOUT seconds, 300 by default.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace mb::engine {

struct LaunchInfo {
  std::string launcher;  // "torchrun", "mpirun", "mpich", "slurm"
  int rank = 0;
  int world = 1;
  int local_rank = 0;  // which GPU of its host this rank takes
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int timeout_seconds = 300;
};

using EnvLookup = std::function<const char*(const char*)>;

// The launcher's description, or nothing when no launcher variables are set. Malformed values (not numbers,
// a rank outside the world, a port outside 1..65535) are kInvalidArgument naming the variable.
std::optional<LaunchInfo> launch_info(const EnvLookup& env);
std::optional<LaunchInfo> launch_info();  // from this process's environment

}  // namespace mb::engine
