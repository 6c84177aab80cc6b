#include "engine/cuda/device_collectives.h"

#include <cstring>
#include <vector>

#include "core/error.h"
#include "engine/cuda/cuda_check.h"
#ifdef MB_WITH_NCCL
#include <nccl.h>
#endif

namespace mb::engine::cuda {
namespace {

class StagedCommunicator final : public Communicator {
 public:
  StagedCommunicator(std::shared_ptr<Communicator> host, cudaStream_t stream) : host_(std::move(host)), stream_(stream) {}
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  bool on_device() const override { return true; }

  void all_reduce_sum(float* data, size_t n) override {
    std::vector<float> h = to_host(data, n);
    host_->all_reduce_sum(h.data(), n);
    to_device(h, data);
  }
  void all_gather(const float* send, size_t n, float* recv) override {
    const std::vector<float> h = to_host(send, n);
    std::vector<float> all(n * static_cast<size_t>(size()));
    host_->all_gather(h.data(), n, all.data());
    to_device(all, recv);
  }
  void broadcast(float* data, size_t n, int root) override {
    std::vector<float> h = to_host(data, n);
    host_->broadcast(h.data(), n, root);
    to_device(h, data);
  }
  void send(const float* data, size_t n, int peer) override { host_->send(to_host(data, n).data(), n, peer); }
  void recv(float* data, size_t n, int peer) override {
    std::vector<float> h(n);
    host_->recv(h.data(), n, peer);
    to_device(h, data);
  }

 private:
  std::vector<float> to_host(const float* data, size_t n) {
    std::vector<float> h(n);
    check(cudaMemcpyAsync(h.data(), data, n * sizeof(float), cudaMemcpyDeviceToHost, stream_), "staging a collective");
    check(cudaStreamSynchronize(stream_), "staging a collective");
    return h;
  }
  void to_device(const std::vector<float>& h, float* data) {
    check(cudaMemcpyAsync(data, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice, stream_), "staging a collective");
    check(cudaStreamSynchronize(stream_), "staging a collective");  // (h is about to go)
  }

  std::shared_ptr<Communicator> host_;
  cudaStream_t stream_;
};

#ifdef MB_WITH_NCCL
void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail(Status::kCuda, "NCCL ", what, ": ", ncclGetErrorString(r), " (", ncclGetLastError(nullptr), ")");
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int size, int rank) : comm_(comm), size_(size), rank_(rank) {}
  ncclComm_t comm() const { return comm_; }
  void bind(cudaStream_t stream) {
    if (bound_ && stream != stream_) fail(Status::kInternal, "an NCCL member bound to two streams");
    stream_ = stream;
    bound_ = true;
  }
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool on_device() const override { return true; }

  void all_reduce_sum(float* data, size_t n) override {
    nccl_check(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm_, stream_), "all-reduce");
  }
  void all_gather(const float* send, size_t n, float* recv) override {
    nccl_check(ncclAllGather(send, recv, n, ncclFloat32, comm_, stream_), "all-gather");
  }
  void broadcast(float* data, size_t n, int root) override {
    nccl_check(ncclBroadcast(data, data, n, ncclFloat32, root, comm_, stream_), "broadcast");
  }
  void send(const float* data, size_t n, int peer) override {
    nccl_check(ncclSend(data, n, ncclFloat32, peer, comm_, stream_), "send");
  }
  void recv(float* data, size_t n, int peer) override {
    nccl_check(ncclRecv(data, n, ncclFloat32, peer, comm_, stream_), "receive");
  }

 private:
  ncclComm_t comm_;
  int size_, rank_;
  cudaStream_t stream_ = nullptr;
  bool bound_ = false;
};
#endif

}  // namespace

std::shared_ptr<Communicator> on_stream(std::shared_ptr<Communicator> c, cudaStream_t stream) {
#ifdef MB_WITH_NCCL
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(c.get())) {
    nccl->bind(stream);
    return c;
  }
#endif
  if (c->on_device()) return c;
  return std::make_shared<StagedCommunicator>(std::move(c), stream);
}

#ifdef MB_WITH_NCCL
bool nccl_available() { return true; }

NcclId nccl_new_id() {
  ncclUniqueId id;
  nccl_check(ncclGetUniqueId(&id), "making a group id");
  NcclId out;
  static_assert(sizeof(id.internal) == std::tuple_size<NcclId>::value, "ncclUniqueId is 128 bytes");
  std::memcpy(out.data(), id.internal, out.size());
  return out;
}

std::shared_ptr<Communicator> nccl_member(const NcclId& id, int size, int rank) {
  ncclUniqueId nid;
  std::memcpy(nid.internal, id.data(), id.size());
  ncclComm_t comm = nullptr;
  nccl_check(ncclCommInitRank(&comm, size, nid, rank), "joining a group");
  return std::make_shared<NcclCommunicator>(comm, size, rank);
}

std::shared_ptr<Communicator> nccl_split(const std::shared_ptr<Communicator>& of, int color, int key) {
  auto* parent = dynamic_cast<NcclCommunicator*>(of.get());
  if (!parent) fail(Status::kInternal, "splitting a group that is not NCCL's");
  ncclComm_t comm = nullptr;
  nccl_check(ncclCommSplit(parent->comm(), color, key, &comm, nullptr), "splitting a group");
  int size = 0, rank = 0;
  nccl_check(ncclCommCount(comm, &size), "splitting a group");
  nccl_check(ncclCommUserRank(comm, &rank), "splitting a group");
  return std::make_shared<NcclCommunicator>(comm, size, rank);
}

std::vector<std::shared_ptr<Communicator>> nccl_group(const std::vector<int>& devices) {
  std::vector<ncclComm_t> comms(devices.size(), nullptr);
  nccl_check(ncclCommInitAll(comms.data(), static_cast<int>(devices.size()), devices.data()), "making a group");
  std::vector<std::shared_ptr<Communicator>> out;
  for (size_t r = 0; r < comms.size(); ++r)
    out.push_back(std::make_shared<NcclCommunicator>(comms[r], static_cast<int>(comms.size()), static_cast<int>(r)));
  return out;
}
#else
bool nccl_available() { return false; }
NcclId nccl_new_id() { fail(Status::kUnsupported, "this mbridge was built without NCCL"); }
std::shared_ptr<Communicator> nccl_member(const NcclId&, int, int) {
  fail(Status::kUnsupported, "this mbridge was built without NCCL");
}
std::shared_ptr<Communicator> nccl_split(const std::shared_ptr<Communicator>&, int, int) {
  fail(Status::kUnsupported, "this mbridge was built without NCCL");
}
std::vector<std::shared_ptr<Communicator>> nccl_group(const std::vector<int>&) {
  fail(Status::kUnsupported, "this mbridge was built without NCCL");
}
#endif

}  // namespace mb::engine::cuda
