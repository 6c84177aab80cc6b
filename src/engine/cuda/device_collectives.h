// Communicators whose data is in GPU memory, ordered on a rank's stream (communicator.h, on_device()):
// - staged: a host communicator's collectives on device buffers, through host copies after the stream has
//   finished (ranks that share a GPU, as NCCL does not allow, or a build without NCCL; slow, exact);
// - NCCL: one communicator of a tensor- or pipeline-parallel group, each rank on its own GPU, its members in
//   threads of this process (nccl_group) or in processes of their own (nccl_member, the id handed round by
//   engine/rendezvous.h).
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <memory>
#include <vector>

#include "engine/communicator.h"

namespace mb::engine::cuda {

// `c` for a rank computing on `stream`: a host communicator staged, an NCCL member bound to the stream.
std::shared_ptr<Communicator> on_stream(std::shared_ptr<Communicator> c, cudaStream_t stream);

// The opaque id every member of an NCCL group is created from (ncclUniqueId's 128 bytes).
using NcclId = std::array<char, 128>;
bool nccl_available();  // whether this build has NCCL
NcclId nccl_new_id();   // kUnsupported without NCCL
// The member `rank` of `size` of the group `id` names, on the current GPU; every member must call it at the
// same time (it waits for them all). Bound to a stream by on_stream before use.
std::shared_ptr<Communicator> nccl_member(const NcclId& id, int size, int rank);
// The members of `of` (an NCCL member) that give the same color, ordered by key (ncclCommSplit; every member of
// `of` calls it at the same time).
std::shared_ptr<Communicator> nccl_split(const std::shared_ptr<Communicator>& of, int color, int key);
// A group of one member per GPU named (ncclCommInitAll), from one thread; member r on devices[r].
std::vector<std::shared_ptr<Communicator>> nccl_group(const std::vector<int>& devices);

}  // namespace mb::engine::cuda
