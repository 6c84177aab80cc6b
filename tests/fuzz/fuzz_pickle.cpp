// pickle::read of the input with torch.save's persistent_load, then collect_tensors, a bounded walk over
// every node, and the storage bounds checks TorchSaveFile::tensor applies (against a storage of the
// size the pickle claims; its bytes are never read).
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "io/pickle_reader.h"
#include "io/torch_save.h"

namespace {

using mb::pickle::Kind;
using mb::pickle::Node;

// Visits every reachable node once (the graph may share nodes or hold cycles), up to a budget.
size_t walk(const Node* root) {
  std::unordered_set<const Node*> seen;
  std::vector<const Node*> todo{root};
  size_t visited = 0;
  while (!todo.empty() && visited < 1000000) {
    const Node* n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n).second) continue;
    ++visited;
    n->qualified_name();
    for (const Node* x : n->items) todo.push_back(x);
    for (const Node* x : n->dict_items) todo.push_back(x);
    for (const Node* x : {n->cls, n->args, n->kwargs, n->state, n->storage}) todo.push_back(x);
    if (n->kind == Kind::kDict) mb::pickle::dict_get(n, "state_dict");
    if (n->kind == Kind::kObject) mb::pickle::object_attr(n, "offset");
  }
  return visited;
}

void check_tensor(const Node* t) {
  static const uint8_t kNothing[1] = {0};
  const Node* s = t->storage;
  if (!s || s->kind != Kind::kStorage) __builtin_trap();  // the reader only builds tensors on storages
  uint64_t nbytes, offset;
  if (__builtin_mul_overflow(static_cast<uint64_t>(s->integer), mb::dtype_size(s->dtype), &nbytes) ||
      nbytes > (uint64_t(1) << 62))
    return;
  if (__builtin_mul_overflow(static_cast<uint64_t>(t->storage_offset), mb::dtype_size(t->dtype), &offset)) return;
  try {
    auto storage = mb::Storage::borrow(kNothing, static_cast<size_t>(nbytes), nullptr);
    mb::Tensor::from_storage(storage, static_cast<size_t>(offset), t->dtype, t->shape, t->strides);
  } catch (const mb::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source = "fuzz.pt (archive/data.pkl)";
  try {
    mb::pickle::ReadOptions ro;
    ro.persistent_load = mb::torch_persistent_load(source);
    mb::pickle::Document doc = mb::pickle::read(mb::ByteView{data, size}, source, ro);
    if (!doc.root) __builtin_trap();
    walk(doc.root);
    for (const auto& [name, node] : mb::collect_tensors(doc.root, "", source)) check_tensor(node);
  } catch (const mb::Error&) {
  }
  return 0;
}
