// The processes of one run (launch_info.h) connected to each other by TCP, each pair by one connection, and the
// host-memory collectives of any group of them over those connections: what ranks that are processes compute
// with on the CPU backend, and how GPU ranks hand round their NCCL group id and the host's decisions.
// Rendezvous: rank 0 listens at MASTER_ADDR:MASTER_PORT; every other rank connects to it and says where it
// listens itself (a port of its own); rank 0 answers with every rank's address; each rank then connects to the
// ranks below it and accepts those above. Every message is framed as [group u32][bytes u64][payload]; one thread
// per connection reads frames into per-group queues, so a send never waits for the peer to call recv.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/communicator.h"
#include "engine/launch_info.h"

namespace mb::engine {

class ProcessGroup : public std::enable_shared_from_this<ProcessGroup> {
 public:
  // Connects this process to every other rank of `info`'s run, waiting up to `timeout_seconds` for them
  // (kNetwork when they do not come or answer wrongly).
  static std::shared_ptr<ProcessGroup> connect(const LaunchInfo& info, double timeout_seconds = 300);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return world_; }
  // A communicator over the ranks `members` (ascending, this rank among them; rank() of it is this rank's index
  // there). Every rank must make its groups in the same order.
  std::unique_ptr<Communicator> group(const std::vector<int>& members);

  // Internal to the communicators: bytes to / from another rank, on a group's queue.
  void send_bytes(int peer, uint32_t group, const void* data, size_t n);
  std::vector<char> recv_bytes(int peer, uint32_t group);

 private:
  ProcessGroup(int rank, int world);
  void start_readers();
  void read_frames(int peer);

  struct Link {
    int fd = -1;
    std::mutex send_mutex;
    std::thread reader;
  };
  const int rank_, world_;
  std::vector<std::unique_ptr<Link>> links_;  // by peer rank (none for this one)
  uint32_t next_group_ = 1;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<std::pair<int, uint32_t>, std::deque<std::vector<char>>> inbox_;
  std::vector<std::string> closed_;  // by peer: why its connection ended (empty while open)
};

}  // namespace mb::engine
