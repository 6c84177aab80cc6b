// The pickle virtual machine: protocols 0-5 in, plain values (pickle_value.h) out. Globals are looked up
// in an explicit allow-list (what torch's weights_only unpickler accepts, plus the classes Megatron
// checkpoints and torch.distributed.checkpoint metadata need); they are recorded, never imported or
// called. Anything else -- os.system, builtins.eval, an unknown class -- is an error naming the file.
#pragma once

#include <functional>
#include <set>
#include <string>

#include "core/mapped_file.h"
#include "io/pickle_value.h"

namespace mb::pickle {

// Turns a persistent id (torch.save's ('storage', type, key, location, numel) tuple) into a node.
using PersistentLoad = std::function<Node*(Document& doc, Node* pid)>;

struct ReadOptions {
  PersistentLoad persistent_load;            // unset: persistent ids are an error
  std::set<std::string> extra_allowed;       // more "module.name" globals to accept as plain objects
  bool allow_unknown_globals = false;        // record any global as a plain object (still never called)
};

// Runs the pickle in `data` to its STOP opcode; `source` names the file (and zip entry) in errors.
Document read(ByteView data, const std::string& source, const ReadOptions& options = {});

// True when module.name is on the built-in allow-list.
bool is_allowed_global(const std::string& module, const std::string& name);

}  // namespace mb::pickle
