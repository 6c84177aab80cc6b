// The values a pickle stream rebuilds, as plain data: no Python object is ever created and no global is
// ever called. Nodes live in a Document's arena and point at each other, so shared objects stay shared
// (two tensors on one storage, a memoised list used twice) and hostile cycles cannot leak; every
// traversal is depth-limited.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dims.h"
#include "core/dtype.h"

namespace mb::pickle {

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,     // fits in int64
  kBigInt,  // `text`: little-endian two's-complement bytes, as LONG1/LONG4 carry them
  kFloat,
  kString,  // UTF-8 text
  kBytes,   // raw bytes (BINBYTES, or _codecs.encode(s, 'latin1') in protocol 2)
  kTuple,   // `tag` "torch.Size" for torch.Size
  kList,
  kDict,    // `items` holds key, value, key, value...; `tag` "collections.OrderedDict" for OrderedDict
  kSet,     // set / frozenset (`tag` says which)
  kGlobal,  // a reference to an allow-listed class, function or constant: `text` module, `name` name
  kDType,   // a torch dtype (a pickled torch.float32 and friends)
  kObject,  // an instance of an allow-listed class: `cls`, `args` (REDUCE/NEWOBJ), `state` (BUILD)
  kStorage, // torch storage from a persistent id: `dtype`, `text` key, `name` location, `numel` elements
  kTensor,  // a rebuilt torch tensor: `storage`, `storage_offset`, `shape`, `strides` (in elements)
};

struct Node {
  Kind kind = Kind::kNone;
  bool boolean = false;
  bool requires_grad = false;  // kTensor
  bool is_parameter = false;   // kTensor rebuilt as torch.nn.Parameter
  bool via_newobj = false;     // kObject made by NEWOBJ (cls.__new__) rather than a REDUCE call
  int64_t integer = 0;         // kInt; kStorage: numel
  double number = 0;           // kFloat
  DType dtype = DType::F32;    // kDType, kStorage, kTensor
  std::string text;            // kString, kBytes, kBigInt, kGlobal module, kStorage key
  std::string name;            // kGlobal name, kStorage location
  std::string tag;             // see Kind
  std::vector<Node*> items;    // tuple/list/set elements; dict key,value pairs; object list items
  std::vector<Node*> dict_items;  // kObject: key,value pairs set by SETITEM(S) on the object
  Node* cls = nullptr;         // kObject: its kGlobal
  Node* args = nullptr;        // kObject: constructor arguments (a tuple), or nullptr
  Node* kwargs = nullptr;      // kObject: NEWOBJ_EX keyword arguments (a dict), or nullptr
  Node* state = nullptr;       // kObject, kDict, kTensor: BUILD state (instance attributes), or nullptr
  Node* storage = nullptr;     // kTensor
  int64_t storage_offset = 0;  // kTensor, in elements
  Dims shape;                  // kTensor
  Dims strides;                // kTensor

  bool is(Kind k) const { return kind == k; }
  // "module.name" of a kGlobal, or of a kObject's class.
  std::string qualified_name() const;
};

// Owns every node of one unpickled (or to-be-pickled) value.
class Document {
 public:
  Document() = default;
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;
  Document(Document&&) = default;
  Document& operator=(Document&&) = default;

  Node* make(Kind kind);
  Node* none();
  Node* boolean(bool b);
  Node* integer(int64_t v);
  Node* number(double v);
  Node* string(std::string s);
  Node* bytes(std::string b);
  Node* tuple(std::vector<Node*> items = {});
  Node* list(std::vector<Node*> items = {});
  Node* dict(bool ordered = false);
  Node* global(std::string module, std::string name);
  Node* dtype(DType d);
  Node* object(Node* cls, Node* args = nullptr, Node* state = nullptr);
  Node* size(const Dims& dims);  // torch.Size
  void dict_set(Node* dict, Node* key, Node* value);

  Node* root = nullptr;
  std::string source;  // the file (and entry) it came from, for error messages

 private:
  std::vector<std::unique_ptr<Node>> arena_;
};

// ---- reading helpers: each throws a format error naming `source` and `what` on a mismatch ----------
constexpr int kMaxTraversalDepth = 256;

const Node* dict_get(const Node* dict, std::string_view key);  // string keys; last one wins; nullptr if absent
const Node* object_attr(const Node* object, std::string_view key);  // from a BUILD state dict
int64_t as_int(const Node* n, const std::string& source, const std::string& what);
double as_number(const Node* n, const std::string& source, const std::string& what);
bool as_bool(const Node* n, const std::string& source, const std::string& what);
const std::string& as_string(const Node* n, const std::string& source, const std::string& what);
Dims as_dims(const Node* n, const std::string& source, const std::string& what);  // tuple/list/Size of ints
const char* kind_name(Kind k);

}  // namespace mb::pickle
