// Writes a pickle_value tree as a pickle stream that Python's pickle and torch.load read back: protocol 2
// (what torch.save emits) or protocol 4 (what torch.distributed.checkpoint uses for .metadata).
// Shared nodes are memoised once and referenced again, so shared storages and objects stay shared.
#pragma once

#include <functional>
#include <string>

#include "io/pickle_value.h"

namespace mb::pickle {

// Returns the persistent id to write for a kStorage node (torch.save: ('storage', cls, key, loc, numel)).
using PersistentId = std::function<Node*(const Node* storage)>;

struct WriteOptions {
  int protocol = 2;  // 2 or 4
  PersistentId persistent_id;
};

std::string write(const Node* root, const WriteOptions& options);

}  // namespace mb::pickle
