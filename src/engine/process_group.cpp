#include "engine/process_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace mb::engine {
namespace {

constexpr uint32_t kMagic = 0x5a52424d;  // "MBRZ"
constexpr uint32_t kVersion = 1;
constexpr uint64_t kMaxFrame = uint64_t(1) << 36;  // (64 GiB: larger than any activation this sends)

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail_net(const std::string& what) { fail(Status::kNetwork, what, ": ", std::strerror(errno)); }

void write_all(int fd, const void* data, size_t n, const char* what) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail_net(what);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// false at a clean end of stream before the first byte
bool read_all(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, p + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && got == 0) return false;
    if (r <= 0) fail(Status::kNetwork, "connection ended in the middle of a message");
    got += static_cast<size_t>(r);
  }
  return true;
}

void read_exact(int fd, void* data, size_t n, const char* what) {
  if (!read_all(fd, data, n)) fail(Status::kNetwork, what, ": the other side closed the connection");
}

// Waits until fd is readable (a connection to accept, bytes to read), or the deadline.
void wait_readable(int fd, Clock::time_point deadline, const std::string& what) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) fail(Status::kNetwork, "timed out ", what);
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (r > 0) return;
    if (r < 0 && errno != EINTR) fail_net(what);
  }
}

int listening_socket(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_net("creating a socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    fail_net(cat("listening on port ", port));
  }
  if (::listen(fd, 1024) < 0) fail_net("listening");
  return fd;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

void tune(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

in_addr resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found)
    fail(Status::kNetwork, "MASTER_ADDR '", host, "' does not resolve to an IPv4 address");
  const in_addr a = reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr;
  ::freeaddrinfo(found);
  return a;
}

// Connects to address:port, trying again while nobody listens there yet.
int connect_to(in_addr address, uint16_t port, Clock::time_point deadline, const std::string& what) {
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_net("creating a socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr = address;
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      tune(fd);
      return fd;
    }
    const int e = errno;
    ::close(fd);
    if (e != ECONNREFUSED && e != ETIMEDOUT && e != EHOSTUNREACH && e != ENETUNREACH && e != EINTR) {
      errno = e;
      fail_net(what);
    }
    if (Clock::now() >= deadline) fail(Status::kNetwork, "timed out ", what);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int accept_one(int listener, Clock::time_point deadline, const std::string& what) {
  wait_readable(listener, deadline, what);
  const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) fail_net(what);
  tune(fd);
  return fd;
}

struct Hello {  // what a rank says first on every connection it makes
  uint32_t magic, version, rank, world, port;
};

void check_hello(const Hello& h, int world, const std::string& from) {
  if (h.magic != kMagic || h.version != kVersion)
    fail(Status::kNetwork, from, ": not an mbridge rank (or another version) connected");
  if (static_cast<int>(h.world) != world)
    fail(Status::kNetwork, from, ": a rank of a run of ", h.world, " connected to a run of ", world);
  if (static_cast<int>(h.rank) >= world) fail(Status::kNetwork, from, ": rank ", h.rank, " of ", world);
}

// A group's collectives over the run's connections (members by their rank in the run).
class MeshCommunicator final : public Communicator {
 public:
  MeshCommunicator(std::shared_ptr<ProcessGroup> run, std::vector<int> members, uint32_t tag, int me)
      : run_(std::move(run)), members_(std::move(members)), tag_(tag), me_(me) {}
  int rank() const override { return me_; }
  int size() const override { return static_cast<int>(members_.size()); }

  void all_reduce_sum(float* data, size_t n) override {
    std::vector<float> all(n * members_.size());
    all_gather(data, n, all.data());
    std::fill(data, data + n, 0.0f);
    for (size_t m = 0; m < members_.size(); ++m)  // (in rank order: every member sums the same way)
      for (size_t i = 0; i < n; ++i) data[i] += all[m * n + i];
  }
  void all_gather(const float* send, size_t n, float* recv) override {
    for (int m = 0; m < size(); ++m)
      if (m != me_) run_->send_bytes(members_[static_cast<size_t>(m)], tag_, send, n * sizeof(float));
    for (int m = 0; m < size(); ++m) {
      if (m == me_) {
        std::copy(send, send + n, recv + static_cast<size_t>(m) * n);
        continue;
      }
      take(m, recv + static_cast<size_t>(m) * n, n);
    }
  }
  void broadcast(float* data, size_t n, int root) override {
    check_member(root);
    if (root == me_) {
      for (int m = 0; m < size(); ++m)
        if (m != me_) run_->send_bytes(members_[static_cast<size_t>(m)], tag_, data, n * sizeof(float));
    } else {
      take(root, data, n);
    }
  }
  void send(const float* data, size_t n, int peer) override {
    check_member(peer);
    run_->send_bytes(members_[static_cast<size_t>(peer)], tag_, data, n * sizeof(float));
  }
  void recv(float* data, size_t n, int peer) override {
    check_member(peer);
    take(peer, data, n);
  }

 private:
  void take(int member, float* out, size_t n) {
    const std::vector<char> bytes = run_->recv_bytes(members_[static_cast<size_t>(member)], tag_);
    if (bytes.size() != n * sizeof(float))
      fail(Status::kInternal, "expected ", n, " values from rank ", members_[static_cast<size_t>(member)], ", got ",
           bytes.size() / sizeof(float));
    std::memcpy(out, bytes.data(), bytes.size());
  }
  void check_member(int m) const {
    if (m < 0 || m >= size()) fail(Status::kInvalidArgument, "member ", m, " of a group of ", size());
  }

  std::shared_ptr<ProcessGroup> run_;
  std::vector<int> members_;
  uint32_t tag_;
  int me_;
};

}  // namespace

ProcessGroup::ProcessGroup(int rank, int world) : rank_(rank), world_(world), closed_(static_cast<size_t>(world)) {
  for (int r = 0; r < world; ++r) links_.push_back(std::make_unique<Link>());
}

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const LaunchInfo& info, double timeout_seconds) {
  if (info.world < 1 || info.rank < 0 || info.rank >= info.world)
    fail(Status::kInvalidArgument, "rank ", info.rank, " of a run of ", info.world);
  std::shared_ptr<ProcessGroup> g(new ProcessGroup(info.rank, info.world));
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
  const std::string where = cat(info.master_addr, ":", info.master_port);
  const int W = info.world;
  std::vector<in_addr> addresses(static_cast<size_t>(W));
  std::vector<uint16_t> ports(static_cast<size_t>(W));
  if (info.rank == 0) {
    const int listener = listening_socket(static_cast<uint16_t>(info.master_port));
    try {
      for (int i = 1; i < W; ++i) {
        const int fd = accept_one(listener, deadline, cat("waiting at ", where, " for the other ", W - 1, " ranks"));
        Hello h{};
        try {
          wait_readable(fd, deadline, "waiting for a rank to introduce itself");
          read_exact(fd, &h, sizeof h, "a rank's introduction");
          check_hello(h, W, where);
          if (h.rank == 0 || g->links_[h.rank]->fd >= 0) fail(Status::kNetwork, where, ": rank ", h.rank, " connected twice");
        } catch (...) {
          ::close(fd);
          throw;
        }
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
        addresses[h.rank] = peer.sin_addr;
        ports[h.rank] = static_cast<uint16_t>(h.port);
        g->links_[h.rank]->fd = fd;
      }
      for (int r = 1; r < W; ++r)  // every rank's address, to every rank
        for (int s = 0; s < W; ++s) {
          const uint32_t a = addresses[static_cast<size_t>(s)].s_addr, p = ports[static_cast<size_t>(s)];
          write_all(g->links_[r]->fd, &a, sizeof a, "sending the ranks' addresses");
          write_all(g->links_[r]->fd, &p, sizeof p, "sending the ranks' addresses");
        }
    } catch (...) {
      ::close(listener);
      throw;
    }
    ::close(listener);
  } else {
    const int listener = listening_socket(0);
    try {
      const int fd = connect_to(resolve(info.master_addr), static_cast<uint16_t>(info.master_port), deadline,
                                cat("connecting to rank 0 at ", where));
      g->links_[0]->fd = fd;
      const Hello h{kMagic, kVersion, static_cast<uint32_t>(info.rank), static_cast<uint32_t>(W), port_of(listener)};
      write_all(fd, &h, sizeof h, "introducing this rank");
      for (int s = 0; s < W; ++s) {
        uint32_t a = 0, p = 0;
        wait_readable(fd, deadline, cat("waiting at ", where, " for the other ranks"));
        read_exact(fd, &a, sizeof a, "the ranks' addresses");
        read_exact(fd, &p, sizeof p, "the ranks' addresses");
        addresses[static_cast<size_t>(s)].s_addr = a;
        ports[static_cast<size_t>(s)] = static_cast<uint16_t>(p);
      }
      for (int s = 1; s < info.rank; ++s) {  // connect to the ranks below, accept those above
        const int peer = connect_to(addresses[static_cast<size_t>(s)], ports[static_cast<size_t>(s)], deadline,
                                    cat("connecting to rank ", s));
        g->links_[s]->fd = peer;
        const Hello mine{kMagic, kVersion, static_cast<uint32_t>(info.rank), static_cast<uint32_t>(W), 0};
        write_all(peer, &mine, sizeof mine, "introducing this rank");
      }
      for (int s = info.rank + 1; s < W; ++s) {
        const int peer = accept_one(listener, deadline, cat("waiting for the ranks above ", info.rank));
        Hello theirs{};
        wait_readable(peer, deadline, "waiting for a rank to introduce itself");
        read_exact(peer, &theirs, sizeof theirs, "a rank's introduction");
        check_hello(theirs, W, "a rank");
        if (static_cast<int>(theirs.rank) <= info.rank || g->links_[theirs.rank]->fd >= 0) {
          ::close(peer);
          fail(Status::kNetwork, "rank ", theirs.rank, " connected to rank ", info.rank, " out of turn");
        }
        g->links_[theirs.rank]->fd = peer;
      }
    } catch (...) {
      ::close(listener);
      throw;
    }
    ::close(listener);
  }
  g->start_readers();
  return g;
}

void ProcessGroup::start_readers() {
  for (int r = 0; r < world_; ++r)
    if (r != rank_) links_[r]->reader = std::thread([this, r] { read_frames(r); });
}

void ProcessGroup::read_frames(int peer) {
  const int fd = links_[peer]->fd;
  std::string why;
  try {
    for (;;) {
      uint32_t group = 0;
      uint64_t n = 0;
      if (!read_all(fd, &group, sizeof group)) {
        why = cat("rank ", peer, " closed its connection");
        break;
      }
      read_exact(fd, &n, sizeof n, "a message");
      if (n > kMaxFrame) fail(Status::kNetwork, "rank ", peer, " sent a message of ", n, " bytes");
      std::vector<char> payload(n);
      read_exact(fd, payload.data(), n, "a message");
      std::lock_guard<std::mutex> lock(mutex_);
      inbox_[{peer, group}].push_back(std::move(payload));
      arrived_.notify_all();
    }
  } catch (const std::exception& e) {
    why = cat("connection to rank ", peer, ": ", e.what());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  closed_[static_cast<size_t>(peer)] = why;
  arrived_.notify_all();
}

ProcessGroup::~ProcessGroup() {
  for (auto& l : links_)
    if (l->fd >= 0) ::shutdown(l->fd, SHUT_RDWR);
  for (auto& l : links_) {
    if (l->reader.joinable()) l->reader.join();
    if (l->fd >= 0) ::close(l->fd);
  }
}

std::unique_ptr<Communicator> ProcessGroup::group(const std::vector<int>& members) {
  const auto me = std::find(members.begin(), members.end(), rank_);
  if (me == members.end() || !std::is_sorted(members.begin(), members.end()) ||
      std::adjacent_find(members.begin(), members.end()) != members.end() || members.front() < 0 || members.back() >= world_)
    fail(Status::kInvalidArgument, "a group of ranks must be ascending, within the run and include rank ", rank_);
  return std::make_unique<MeshCommunicator>(shared_from_this(), members, next_group_++, static_cast<int>(me - members.begin()));
}

void ProcessGroup::send_bytes(int peer, uint32_t group, const void* data, size_t n) {
  if (peer == rank_ || peer < 0 || peer >= world_) fail(Status::kInternal, "rank ", rank_, " sending to rank ", peer);
  Link& l = *links_[peer];
  std::lock_guard<std::mutex> lock(l.send_mutex);
  const uint64_t length = n;
  write_all(l.fd, &group, sizeof group, cat("sending to rank ", peer).c_str());
  write_all(l.fd, &length, sizeof length, cat("sending to rank ", peer).c_str());
  write_all(l.fd, data, n, cat("sending to rank ", peer).c_str());
}

std::vector<char> ProcessGroup::recv_bytes(int peer, uint32_t group) {
  if (peer == rank_ || peer < 0 || peer >= world_) fail(Status::kInternal, "rank ", rank_, " receiving from rank ", peer);
  std::unique_lock<std::mutex> lock(mutex_);
  auto& box = inbox_[{peer, group}];
  arrived_.wait(lock, [&] { return !box.empty() || !closed_[static_cast<size_t>(peer)].empty(); });
  if (box.empty()) fail(Status::kNetwork, closed_[static_cast<size_t>(peer)]);
  std::vector<char> message = std::move(box.front());
  box.pop_front();
  return message;
}

}  // namespace mb::engine
