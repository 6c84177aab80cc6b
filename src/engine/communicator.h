// The collectives a tensor- or pipeline-parallel forward pass needs between the ranks of a group: the
// row-parallel products' all-reduce, the vocabulary-parallel logits' all-gather, a stage's activations
// sent to the next, and what the last stage computed broadcast back. Every member calls each collective in
// the same order with the same count; results are identical on every member (sums are taken in rank order).
// LocalGroup connects ranks that are threads of this process and hold their data in host memory (the CPU
// backend's parallel runs).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace mb::engine {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Where the data of the collectives is: host memory (false), or device memory of the member's GPU with the
  // collectives ordered on the stream the communicator was made for (true: NCCL).
  virtual bool on_device() const { return false; }
  // data[n] of every member summed, in rank order, into every member's data.
  virtual void all_reduce_sum(float* data, size_t n) = 0;
  // recv[size() * n]: member r's send[n] at recv + r * n.
  virtual void all_gather(const float* send, size_t n, float* recv) = 0;
  // data[n] of member `root` into every member's data.
  virtual void broadcast(float* data, size_t n, int root) = 0;
  // Point to point: what `peer` sent is received in the order it was sent.
  virtual void send(const float* data, size_t n, int peer) = 0;
  virtual void recv(float* data, size_t n, int peer) = 0;
};

// A group of `size` members in this process. Each member (member(r)) is used by one thread. When a member's
// thread fails, abort() wakes every member waiting in a collective, and each of them throws (kCancelled), so
// no thread is left waiting for one that will never come.
class LocalGroup : public std::enable_shared_from_this<LocalGroup> {
 public:
  static std::shared_ptr<LocalGroup> create(int size);
  std::unique_ptr<Communicator> member(int rank);
  void abort();
  // After a failed call, once no member is inside a collective: the group usable again, nothing pending.
  void reset();
  int size() const { return size_; }

 private:
  explicit LocalGroup(int size);
  friend class LocalMember;
  // Waits until every member has arrived (throws once aborted).
  void barrier();
  void publish(int rank, const void* data);
  const void* published(int rank);
  void post(int from, int to, std::vector<float> message);
  std::vector<float> take(int from, int to);

  const int size_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0;
  long generation_ = 0;
  bool aborted_ = false;
  std::vector<const void*> slots_;
  std::map<std::pair<int, int>, std::deque<std::vector<float>>> mailboxes_;
};

}  // namespace mb::engine
