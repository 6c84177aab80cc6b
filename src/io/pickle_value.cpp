#include "io/pickle_value.h"

#include "core/error.h"

namespace mb::pickle {

std::string Node::qualified_name() const {
  const Node* g = kind == Kind::kObject ? cls : this;
  if (!g || g->kind != Kind::kGlobal) return "";
  return g->text + "." + g->name;
}

Node* Document::make(Kind kind) {
  arena_.push_back(std::make_unique<Node>());
  arena_.back()->kind = kind;
  return arena_.back().get();
}

Node* Document::none() { return make(Kind::kNone); }

Node* Document::boolean(bool b) {
  Node* n = make(Kind::kBool);
  n->boolean = b;
  return n;
}

Node* Document::integer(int64_t v) {
  Node* n = make(Kind::kInt);
  n->integer = v;
  return n;
}

Node* Document::number(double v) {
  Node* n = make(Kind::kFloat);
  n->number = v;
  return n;
}

Node* Document::string(std::string s) {
  Node* n = make(Kind::kString);
  n->text = std::move(s);
  return n;
}

Node* Document::bytes(std::string b) {
  Node* n = make(Kind::kBytes);
  n->text = std::move(b);
  return n;
}

Node* Document::tuple(std::vector<Node*> items) {
  Node* n = make(Kind::kTuple);
  n->items = std::move(items);
  return n;
}

Node* Document::list(std::vector<Node*> items) {
  Node* n = make(Kind::kList);
  n->items = std::move(items);
  return n;
}

Node* Document::dict(bool ordered) {
  Node* n = make(Kind::kDict);
  if (ordered) n->tag = "collections.OrderedDict";
  return n;
}

Node* Document::global(std::string module, std::string name) {
  Node* n = make(Kind::kGlobal);
  n->text = std::move(module);
  n->name = std::move(name);
  return n;
}

Node* Document::dtype(DType d) {
  Node* n = make(Kind::kDType);
  n->dtype = d;
  return n;
}

Node* Document::object(Node* cls, Node* args, Node* state) {
  Node* n = make(Kind::kObject);
  n->cls = cls;
  n->args = args;
  n->state = state;
  return n;
}

Node* Document::size(const Dims& dims) {
  std::vector<Node*> items;
  for (int64_t d : dims) items.push_back(integer(d));
  Node* t = tuple(std::move(items));
  t->tag = "torch.Size";
  return t;
}

void Document::dict_set(Node* dict, Node* key, Node* value) {
  dict->items.push_back(key);
  dict->items.push_back(value);
}

// ---- reading helpers ---------------------------------------------------------------------------------

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kBigInt: return "big int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kSet: return "set";
    case Kind::kGlobal: return "global";
    case Kind::kDType: return "torch.dtype";
    case Kind::kObject: return "object";
    case Kind::kStorage: return "storage";
    case Kind::kTensor: return "tensor";
  }
  return "?";
}

const Node* dict_get(const Node* dict, std::string_view key) {
  if (!dict || dict->kind != Kind::kDict) return nullptr;
  for (size_t i = dict->items.size(); i >= 2; i -= 2) {
    const Node* k = dict->items[i - 2];
    if (k->kind == Kind::kString && k->text == key) return dict->items[i - 1];
  }
  return nullptr;
}

const Node* object_attr(const Node* object, std::string_view key) {
  if (!object || object->kind != Kind::kObject) return nullptr;
  return dict_get(object->state, key);
}

namespace {
[[noreturn]] void mismatch(const Node* n, const std::string& source, const std::string& what, const char* expected) {
  fail_format(source, what, " should be ", expected, ", found ", n ? kind_name(n->kind) : "nothing");
}
}  // namespace

int64_t as_int(const Node* n, const std::string& source, const std::string& what) {
  if (n && n->kind == Kind::kInt) return n->integer;
  if (n && n->kind == Kind::kBool) return n->boolean ? 1 : 0;
  mismatch(n, source, what, "an integer");
}

double as_number(const Node* n, const std::string& source, const std::string& what) {
  if (n && n->kind == Kind::kFloat) return n->number;
  if (n && n->kind == Kind::kInt) return static_cast<double>(n->integer);
  mismatch(n, source, what, "a number");
}

bool as_bool(const Node* n, const std::string& source, const std::string& what) {
  if (n && n->kind == Kind::kBool) return n->boolean;
  if (n && n->kind == Kind::kInt) return n->integer != 0;
  mismatch(n, source, what, "a bool");
}

const std::string& as_string(const Node* n, const std::string& source, const std::string& what) {
  if (n && n->kind == Kind::kString) return n->text;
  mismatch(n, source, what, "a string");
}

Dims as_dims(const Node* n, const std::string& source, const std::string& what) {
  if (!n || (n->kind != Kind::kTuple && n->kind != Kind::kList)) mismatch(n, source, what, "a tuple of integers");
  if (n->items.size() > static_cast<size_t>(kMaxDims))
    fail_format(source, what, " has ", n->items.size(), " dimensions; at most ", kMaxDims, " are supported");
  Dims d;
  for (const Node* x : n->items) d.push_back(as_int(x, source, what));
  return d;
}

}  // namespace mb::pickle
