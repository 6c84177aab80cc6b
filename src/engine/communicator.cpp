#include "engine/communicator.h"

#include <algorithm>

#include "core/error.h"

namespace mb::engine {

class LocalMember final : public Communicator {
 public:
  LocalMember(std::shared_ptr<LocalGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size_; }

  void all_reduce_sum(float* data, size_t n) override {
    std::vector<float> sum(n, 0.0f);
    gathered(data, [&](int, const float* member) {
      for (size_t i = 0; i < n; ++i) sum[i] += member[i];
    });
    std::copy(sum.begin(), sum.end(), data);  // (after every member has read ours)
  }

  void all_gather(const float* send, size_t n, float* recv) override {
    std::vector<float> all(n * static_cast<size_t>(size()));
    gathered(send, [&](int r, const float* member) { std::copy(member, member + n, all.begin() + r * n); });
    std::copy(all.begin(), all.end(), recv);
  }

  void broadcast(float* data, size_t n, int root) override {
    check_peer(root);
    std::vector<float> copy;
    gathered(data, [&](int r, const float* member) {
      if (r == root && root != rank_) copy.assign(member, member + n);
    });
    if (root != rank_) std::copy(copy.begin(), copy.end(), data);
  }

  void send(const float* data, size_t n, int peer) override {
    check_peer(peer);
    group_->post(rank_, peer, std::vector<float>(data, data + n));
  }

  void recv(float* data, size_t n, int peer) override {
    check_peer(peer);
    const std::vector<float> message = group_->take(peer, rank_);
    if (message.size() != n)
      fail(Status::kInternal, "rank ", rank_, " expected ", n, " values from rank ", peer, ", got ", message.size());
    std::copy(message.begin(), message.end(), data);
  }

 private:
  // Every member's pointer is visible between two barriers: `read` sees each in rank order.
  template <class Read>
  void gathered(const float* mine, Read read) {
    group_->publish(rank_, mine);
    group_->barrier();
    for (int r = 0; r < size(); ++r) read(r, static_cast<const float*>(group_->published(r)));
    group_->barrier();
  }

  void check_peer(int peer) const {
    if (peer < 0 || peer >= size()) fail(Status::kInvalidArgument, "rank ", peer, " is not in a group of ", size());
  }

  std::shared_ptr<LocalGroup> group_;
  int rank_;
};

LocalGroup::LocalGroup(int size) : size_(size), slots_(static_cast<size_t>(size), nullptr) {}

std::shared_ptr<LocalGroup> LocalGroup::create(int size) {
  if (size < 1) fail(Status::kInvalidArgument, "a group of ", size, " members");
  return std::shared_ptr<LocalGroup>(new LocalGroup(size));
}

std::unique_ptr<Communicator> LocalGroup::member(int rank) {
  if (rank < 0 || rank >= size_) fail(Status::kInvalidArgument, "member ", rank, " of a group of ", size_);
  return std::make_unique<LocalMember>(shared_from_this(), rank);
}

void LocalGroup::abort() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = true;
  changed_.notify_all();
}

void LocalGroup::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  aborted_ = false;
  arrived_ = 0;
  std::fill(slots_.begin(), slots_.end(), nullptr);
  mailboxes_.clear();
}

void LocalGroup::barrier() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (aborted_) fail(Status::kCancelled, "another rank of the parallel run failed");
  const long generation = generation_;
  if (++arrived_ == size_) {
    arrived_ = 0;
    ++generation_;
    changed_.notify_all();
    return;
  }
  changed_.wait(lock, [&] { return generation_ != generation || aborted_; });
  if (generation_ == generation) fail(Status::kCancelled, "another rank of the parallel run failed");
}

void LocalGroup::publish(int rank, const void* data) {
  std::lock_guard<std::mutex> lock(mutex_);
  slots_[static_cast<size_t>(rank)] = data;
}

const void* LocalGroup::published(int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  return slots_[static_cast<size_t>(rank)];
}

void LocalGroup::post(int from, int to, std::vector<float> message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (aborted_) fail(Status::kCancelled, "another rank of the parallel run failed");
  mailboxes_[{from, to}].push_back(std::move(message));
  changed_.notify_all();
}

std::vector<float> LocalGroup::take(int from, int to) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto& box = mailboxes_[{from, to}];
  changed_.wait(lock, [&] { return !box.empty() || aborted_; });
  if (box.empty()) fail(Status::kCancelled, "another rank of the parallel run failed");
  std::vector<float> message = std::move(box.front());
  box.pop_front();
  return message;
}

}  // namespace mb::engine
