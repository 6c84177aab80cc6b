#include "io/pickle_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "core/error.h"

namespace mb::pickle {
namespace {

// ---- the allow-list ---------------------------------------------------------------------------------

// What a recognised global does when called (REDUCE / NEWOBJ).
enum class Role {
  kPlainObject,        // recorded as an object; args and state kept as data
  kOrderedDict,
  kRebuildTensorV2,
  kRebuildTensorV3,
  kRebuildParameter,
  kRebuildParameterWithState,
  kRebuildFromTypeV2,
  kTorchSize,
  kCodecsEncode,
  kSet,
  kFrozenSet,
  kByteArray,
  kBytes,              // bytes(): how protocol 2 writes b''
  kStorageClass,       // torch.FloatStorage and friends: only valid inside persistent ids
};

struct Allowed {
  const char* module;
  const char* name;
  Role role;
};

const Allowed kAllowed[] = {
    {"collections", "OrderedDict", Role::kOrderedDict},
    {"torch._utils", "_rebuild_tensor_v2", Role::kRebuildTensorV2},
    {"torch._utils", "_rebuild_tensor_v3", Role::kRebuildTensorV3},
    {"torch._utils", "_rebuild_parameter", Role::kRebuildParameter},
    {"torch._utils", "_rebuild_parameter_with_state", Role::kRebuildParameterWithState},
    {"torch._tensor", "_rebuild_from_type_v2", Role::kRebuildFromTypeV2},
    {"torch", "Size", Role::kTorchSize},
    {"_codecs", "encode", Role::kCodecsEncode},
    {"builtins", "set", Role::kSet},
    {"builtins", "frozenset", Role::kFrozenSet},
    {"builtins", "bytearray", Role::kByteArray},
    {"builtins", "bytes", Role::kBytes},
    {"__builtin__", "bytes", Role::kBytes},
    {"__builtin__", "set", Role::kSet},
    {"__builtin__", "frozenset", Role::kFrozenSet},
    {"__builtin__", "bytearray", Role::kByteArray},
    {"torch", "UntypedStorage", Role::kStorageClass},
    {"torch.storage", "UntypedStorage", Role::kStorageClass},
    {"torch.storage", "TypedStorage", Role::kStorageClass},
    // torch classes and constants that appear as data
    {"torch", "Tensor", Role::kPlainObject},
    {"torch.nn.parameter", "Parameter", Role::kPlainObject},
    {"torch", "device", Role::kPlainObject},
    {"torch", "strided", Role::kPlainObject},
    {"torch", "sparse_coo", Role::kPlainObject},
    {"torch", "contiguous_format", Role::kPlainObject},
    {"torch", "channels_last", Role::kPlainObject},
    {"torch", "preserve_format", Role::kPlainObject},
    {"torch.serialization", "_get_layout", Role::kPlainObject},
    {"torch._C", "Generator", Role::kPlainObject},
    {"torch.storage", "_load_from_bytes", Role::kPlainObject},
    // torch.distributed.checkpoint metadata (the .metadata file of a torch_dist checkpoint)
    {"torch.distributed.checkpoint.metadata", "Metadata", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "TensorStorageMetadata", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "BytesStorageMetadata", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "ChunkStorageMetadata", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "TensorProperties", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "MetadataIndex", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "StorageMeta", Role::kPlainObject},
    {"torch.distributed.checkpoint.metadata", "_MEM_FORMAT_ENCODING", Role::kPlainObject},
    {"torch.distributed.checkpoint.filesystem", "_StorageInfo", Role::kPlainObject},
    {"torch.distributed._shard.sharded_tensor.metadata", "TensorProperties", Role::kPlainObject},
    {"torch.distributed._shard.sharded_tensor.metadata", "MEM_FORMAT_ENCODING", Role::kPlainObject},
    {"torch.distributed._shard.metadata", "ShardMetadata", Role::kPlainObject},
    // Python and numpy values found in Megatron checkpoints (args, rng state): megatron/core/safe_globals.py
    {"argparse", "Namespace", Role::kPlainObject},
    {"types", "SimpleNamespace", Role::kPlainObject},
    {"pathlib", "PosixPath", Role::kPlainObject},
    {"pathlib", "PurePosixPath", Role::kPlainObject},
    {"signal", "Signals", Role::kPlainObject},
    {"io", "BytesIO", Role::kPlainObject},
    {"_io", "BytesIO", Role::kPlainObject},
    {"builtins", "slice", Role::kPlainObject},
    {"builtins", "complex", Role::kPlainObject},
    {"numpy", "ndarray", Role::kPlainObject},
    {"numpy", "dtype", Role::kPlainObject},
    {"numpy.core.multiarray", "_reconstruct", Role::kPlainObject},
    {"numpy._core.multiarray", "_reconstruct", Role::kPlainObject},
    {"numpy.core.multiarray", "scalar", Role::kPlainObject},
    {"numpy._core.multiarray", "scalar", Role::kPlainObject},
    {"megatron.core.enums", "ModelType", Role::kPlainObject},
    {"megatron.core.optimizer", "OptimizerConfig", Role::kPlainObject},
    {"megatron.core.optimizer.optimizer_config", "OptimizerConfig", Role::kPlainObject},
    {"megatron.core.rerun_state_machine", "RerunDiagnostic", Role::kPlainObject},
    {"megatron.core.rerun_state_machine", "RerunMode", Role::kPlainObject},
    {"megatron.core.rerun_state_machine", "RerunState", Role::kPlainObject},
    {"megatron.core.dist_checkpointing.strategies.torch", "MCoreMetadata", Role::kPlainObject},
    {"megatron.core.dist_checkpointing.strategies.torch", "MCoreSavePlan", Role::kPlainObject},
};

// Whole modules of data-only classes (enums, dtype classes).
const char* const kAllowedModules[] = {
    "megatron.core.transformer.enums",
    "numpy.dtypes",
};

struct Resolved {
  bool allowed = false;
  Role role = Role::kPlainObject;
  std::optional<DType> dtype;  // torch.float32 and friends
};

Resolved resolve(const std::string& module, const std::string& name, const ReadOptions& options) {
  for (const Allowed& a : kAllowed)
    if (module == a.module && name == a.name) return {true, a.role, std::nullopt};
  if (module == "torch") {
    if (auto d = dtype_from_torch_name(name)) return {true, Role::kPlainObject, d};
    if (dtype_from_storage_class(name)) return {true, Role::kStorageClass, std::nullopt};
  }
  for (const char* m : kAllowedModules)
    if (module == m) return {true, Role::kPlainObject, std::nullopt};
  if (options.extra_allowed.count(module + "." + name) || options.allow_unknown_globals)
    return {true, Role::kPlainObject, std::nullopt};
  return {};
}

// ---- the machine ---------------------------------------------------------------------------------------

constexpr size_t kMaxLineLength = 1 << 20;

class Machine {
 public:
  Machine(ByteView data, const std::string& source, const ReadOptions& options)
      : data_(data), source_(source), options_(options) {
    doc_.source = source;
  }

  Document run() {
    while (true) {
      if (pos_ >= data_.size) error("ends without a STOP opcode");
      op_pos_ = pos_;
      op_ = data_.data[pos_++];
      if (op_ == '.') break;
      step();
    }
    if (stack_.size() != 1) error("STOP with ", stack_.size(), " values on the stack instead of 1");
    if (!marks_.empty()) error("STOP with an unclosed MARK");
    doc_.root = stack_.back();
    return std::move(doc_);
  }

 private:
  template <class... Parts>
  [[noreturn]] void error(const Parts&... parts) {
    char op[8];
    std::snprintf(op, sizeof(op), "0x%02x", op_);
    fail_format(source_, "pickle opcode ", op, " at byte ", op_pos_, ": ", parts...);
  }

  // -- input --
  const uint8_t* take(uint64_t n) {
    if (n > data_.size - pos_) error("needs ", n, " more bytes but the pickle ends after ", data_.size - pos_);
    const uint8_t* p = data_.data + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  uint64_t take_le(int n) {
    const uint8_t* p = take(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string take_line() {
    size_t start = pos_;
    while (pos_ < data_.size && data_.data[pos_] != '\n') {
      if (pos_ - start > kMaxLineLength) error("text argument longer than ", kMaxLineLength, " bytes");
      ++pos_;
    }
    if (pos_ >= data_.size) error("text argument without its newline");
    std::string line(reinterpret_cast<const char*>(data_.data + start), pos_ - start);
    ++pos_;
    return line;
  }

  // -- stack --
  void push(Node* n) { stack_.push_back(n); }
  Node* pop() {
    if (stack_.size() <= floor()) error("stack underflow");
    Node* n = stack_.back();
    stack_.pop_back();
    return n;
  }
  Node* top() {
    if (stack_.size() <= floor()) error("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Node*> pop_mark() {
    if (marks_.empty()) error("no MARK to close");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Node*> items(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  // -- memo --
  void memo_put(uint64_t index) { memo_[index] = top(); }
  Node* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) error("memo entry ", index, " was never stored");
    return it->second;
  }

  // -- value builders --
  Node* make_string(const uint8_t* p, size_t n) {
    if (!valid_utf8(p, n)) error("string is not valid UTF-8");
    return doc_.string(std::string(reinterpret_cast<const char*>(p), n));
  }
  Node* make_bytes(const uint8_t* p, size_t n) {
    return doc_.bytes(std::string(reinterpret_cast<const char*>(p), n));
  }
  Node* make_long(const uint8_t* p, size_t n) {
    // little-endian two's complement; fits int64 when n <= 8
    if (n == 0) return doc_.integer(0);
    if (n <= 8) {
      uint64_t v = 0;
      for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
      if (n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
      return doc_.integer(static_cast<int64_t>(v));
    }
    Node* b = doc_.make(Kind::kBigInt);
    b->text.assign(reinterpret_cast<const char*>(p), n);
    return b;
  }

  static bool valid_utf8(const uint8_t* p, size_t n) {
    size_t i = 0;
    while (i < n) {
      uint8_t c = p[i];
      if (c < 0x80) { ++i; continue; }
      int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      if (len == 0 || i + len > n) return false;
      uint32_t cp = c & (0x7F >> len);
      for (int k = 1; k < len; ++k) {
        if ((p[i + k] & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (p[i + k] & 0x3F);
      }
      // overlong forms and out-of-range code points; lone surrogates are kept (Python's surrogatepass)
      if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return false;
      i += static_cast<size_t>(len);
    }
    return true;
  }

  // -- globals and calls --
  Node* make_global(const std::string& module, const std::string& name) {
    Resolved r = resolve(module, name, options_);
    if (!r.allowed)
      error("global '", module, ".", name,
            "' is not on the allow-list (mbridge never imports or calls anything named in a pickle)");
    if (r.dtype) return doc_.dtype(*r.dtype);
    Node* g = doc_.global(module, name);
    roles_[g] = r.role;
    return g;
  }

  Role role_of(Node* callable) {
    if (!callable || callable->kind != Kind::kGlobal) error("call of a ", kind_name(callable->kind), ", not a global");
    auto it = roles_.find(callable);
    return it == roles_.end() ? Role::kPlainObject : it->second;
  }

  Node* arg(Node* args, size_t i, const char* fn) {
    if (i >= args->items.size()) error(fn, "() takes at least ", i + 1, " arguments, got ", args->items.size());
    return args->items[i];
  }

  Node* rebuild_tensor(Node* args, bool v3) {
    const char* fn = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2";
    Node* storage = arg(args, 0, fn);
    if (storage->kind != Kind::kStorage) error(fn, "() needs a storage, got a ", kind_name(storage->kind));
    Node* t = doc_.make(Kind::kTensor);
    t->storage = storage;
    t->storage_offset = as_int(arg(args, 1, fn), source_, "tensor storage offset");
    t->shape = as_dims(arg(args, 2, fn), source_, "tensor size");
    t->strides = as_dims(arg(args, 3, fn), source_, "tensor stride");
    t->requires_grad = as_bool(arg(args, 4, fn), source_, "requires_grad");
    t->dtype = storage->dtype;
    if (v3) {
      Node* d = arg(args, 6, fn);
      if (d->kind != Kind::kDType) error(fn, "() needs a dtype as its 7th argument");
      t->dtype = d->dtype;
    }
    if (t->shape.size() != t->strides.size()) error(fn, "(): size and stride differ in length");
    if (t->storage_offset < 0) error(fn, "(): negative storage offset");
    return t;
  }

  Node* call(Node* callable, Node* args) {
    if (args->kind != Kind::kTuple) error("call arguments must be a tuple, got a ", kind_name(args->kind));
    Role role = role_of(callable);
    switch (role) {
      case Role::kOrderedDict: {
        Node* d = doc_.dict(true);
        if (!args->items.empty()) {  // OrderedDict([(k, v), ...])
          Node* pairs = args->items[0];
          if (pairs->kind != Kind::kList && pairs->kind != Kind::kTuple) error("OrderedDict() of a ", kind_name(pairs->kind));
          charge(pairs->items.size() * 2 * sizeof(Node*));
          for (Node* p : pairs->items) {
            if (p->kind != Kind::kTuple || p->items.size() != 2) error("OrderedDict() item is not a pair");
            doc_.dict_set(d, p->items[0], p->items[1]);
          }
        }
        return d;
      }
      case Role::kRebuildTensorV2: return rebuild_tensor(args, false);
      case Role::kRebuildTensorV3: return rebuild_tensor(args, true);
      case Role::kRebuildParameter:
      case Role::kRebuildParameterWithState: {
        Node* data = arg(args, 0, "_rebuild_parameter");
        if (data->kind != Kind::kTensor) error("_rebuild_parameter() of a ", kind_name(data->kind));
        Node* p = doc_.make(Kind::kTensor);
        *p = *data;
        p->is_parameter = true;
        p->requires_grad = as_bool(arg(args, 1, "_rebuild_parameter"), source_, "requires_grad");
        return p;
      }
      case Role::kRebuildFromTypeV2: {
        Node* fn = arg(args, 0, "_rebuild_from_type_v2");
        Node* type = arg(args, 1, "_rebuild_from_type_v2");
        Node* inner = arg(args, 2, "_rebuild_from_type_v2");
        // fn is the real rebuild function (_rebuild_tensor_v2...); never itself: no unbounded recursion
        if (role_of(fn) == Role::kRebuildFromTypeV2) error("_rebuild_from_type_v2() nested in itself");
        Node* t = call(fn, inner);
        if (t->kind != Kind::kTensor) error("_rebuild_from_type_v2() did not rebuild a tensor");
        std::string type_name = type->qualified_name();
        if (type_name == "torch.nn.parameter.Parameter") t->is_parameter = true;
        else if (type_name != "torch.Tensor") error("_rebuild_from_type_v2() to unsupported tensor type '", type_name, "'");
        return t;
      }
      case Role::kTorchSize: {
        Node* dims = arg(args, 0, "Size");
        if (dims->kind != Kind::kTuple && dims->kind != Kind::kList) error("torch.Size() of a ", kind_name(dims->kind));
        charge(dims->items.size() * sizeof(Node*));
        Node* t = doc_.tuple(dims->items);
        t->tag = "torch.Size";
        return t;
      }
      case Role::kCodecsEncode: {
        // protocol 2 writes bytes as _codecs.encode(<latin-1 text>, 'latin1')
        const std::string& text = as_string(arg(args, 0, "encode"), source_, "_codecs.encode() text");
        std::string enc = args->items.size() > 1 ? as_string(args->items[1], source_, "encoding") : "utf-8";
        charge(text.size());
        if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1") return doc_.bytes(latin1_from_utf8(text));
        if (enc == "utf-8" || enc == "utf8") return doc_.bytes(text);
        error("_codecs.encode() with unsupported encoding '", enc, "'");
      }
      case Role::kSet:
      case Role::kFrozenSet: {
        Node* s = doc_.make(Kind::kSet);
        s->tag = role == Role::kSet ? "set" : "frozenset";
        if (!args->items.empty()) {
          Node* src = args->items[0];
          if (src->kind != Kind::kList && src->kind != Kind::kTuple && src->kind != Kind::kSet)
            error("set() of a ", kind_name(src->kind));
          charge(src->items.size() * sizeof(Node*));
          s->items = src->items;
        }
        return s;
      }
      case Role::kByteArray: {
        if (args->items.empty()) return doc_.bytes("");
        Node* src = args->items[0];
        charge(src->text.size());
        if (src->kind == Kind::kBytes) return doc_.bytes(src->text);
        if (src->kind == Kind::kString && args->items.size() > 1) {
          const std::string& enc = as_string(args->items[1], source_, "encoding");
          if (enc == "latin-1" || enc == "latin1") return doc_.bytes(latin1_from_utf8(src->text));
        }
        error("bytearray() of a ", kind_name(src->kind));
      }
      case Role::kBytes:
        if (!args->items.empty()) error("bytes() with arguments");
        return doc_.bytes("");
      case Role::kStorageClass:
        error("storage class '", callable->qualified_name(), "' called outside a persistent id");
      case Role::kPlainObject:
        return doc_.object(callable, args);
    }
    error("unreachable");
  }

  // Values copied out of other values (set(x), torch.Size(x), bytearray(b), OrderedDict(pairs)): one
  // memoised value passed to such calls over and over would rebuild gigabytes from a small file.
  void charge(size_t bytes) {
    copied_ += bytes;
    if (copied_ > 32 * static_cast<uint64_t>(data_.size) + (16u << 20))
      error("rebuilds far more data than the pickle holds (one value copied over and over)");
  }

  // torch's persistent_load returns one storage per key; a memoised persistent id is loaded once.
  Node* persistent(Node* pid) {
    if (!options_.persistent_load) error("persistent id in a pickle that should have none");
    auto it = persisted_.find(pid);
    if (it != persisted_.end()) return it->second;
    Node* loaded = options_.persistent_load(doc_, pid);
    persisted_.emplace(pid, loaded);
    return loaded;
  }

  std::string latin1_from_utf8(const std::string& text) {
    std::string out;
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    size_t i = 0, n = text.size();
    while (i < n) {
      uint8_t c = p[i];
      if (c < 0x80) {
        out += static_cast<char>(c);
        ++i;
      } else if ((c & 0xE0) == 0xC0 && i + 1 < n) {
        uint32_t cp = ((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
        if (cp > 0xFF) error("latin-1 text with a character above U+00FF");
        out += static_cast<char>(cp);
        i += 2;
      } else {
        error("latin-1 text with a character above U+00FF");
      }
    }
    return out;
  }

  void set_items(Node* target, std::vector<Node*> kv) {
    if (kv.size() % 2) error("SETITEMS with an odd number of values");
    std::vector<Node*>* dst = nullptr;
    if (target->kind == Kind::kDict) dst = &target->items;
    else if (target->kind == Kind::kObject) dst = &target->dict_items;
    else error("SETITEM(S) on a ", kind_name(target->kind));
    dst->insert(dst->end(), kv.begin(), kv.end());
  }

  void append_items(Node* target, std::vector<Node*> values) {
    if (target->kind == Kind::kList || target->kind == Kind::kSet || target->kind == Kind::kObject)
      target->items.insert(target->items.end(), values.begin(), values.end());
    else
      error("APPEND(S) on a ", kind_name(target->kind));
  }

  // Text forms of protocol 0.
  Node* parse_int_line(const std::string& line) {
    if (line == "00") return doc_.boolean(false);
    if (line == "01") return doc_.boolean(true);
    return parse_decimal(line);
  }
  Node* parse_decimal(std::string s) {
    if (!s.empty() && s.back() == 'L') s.pop_back();
    if (s.empty() || s.size() > 4300) error("bad integer text");
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end != '\0') error("bad integer text '", s, "'");
    if (errno == ERANGE) error("integer text '", s, "' does not fit in 64 bits");
    return doc_.integer(v);
  }
  Node* parse_quoted_string(const std::string& line) {
    if (line.size() < 2 || (line[0] != '\'' && line[0] != '"') || line.back() != line[0]) error("STRING is not quoted");
    std::string out;
    for (size_t i = 1; i + 1 < line.size(); ++i) {
      char c = line[i];
      if (c != '\\') { out += c; continue; }
      if (++i + 1 > line.size() - 1) error("STRING ends inside an escape");
      char e = line[i];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'x': {
          if (i + 2 >= line.size()) error("bad \\x escape");
          out += static_cast<char>(parse_hex(line, i + 1, 2));
          i += 2;
          break;
        }
        default: error("unsupported escape in STRING");
      }
    }
    const auto* p = reinterpret_cast<const uint8_t*>(out.data());
    return valid_utf8(p, out.size()) ? doc_.string(out) : doc_.bytes(out);
  }
  // Exactly `len` hex digits at line[at...] (the caller checked they are inside the line).
  uint32_t parse_hex(const std::string& line, size_t at, size_t len) {
    uint32_t v = 0;
    for (size_t k = at; k < at + len; ++k) {
      char c = line[k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) error("bad hex digit in an escape");
      v = (v << 4) | static_cast<uint32_t>(d);
    }
    return v;
  }
  Node* parse_raw_unicode(const std::string& line) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      uint32_t cp = c;
      if (c == '\\' && i + 1 < line.size() && (line[i + 1] == 'u' || line[i + 1] == 'U')) {
        size_t len = line[i + 1] == 'u' ? 4 : 8;
        if (i + 2 + len > line.size()) error("bad \\u escape");
        cp = parse_hex(line, i + 2, len);
        i += 1 + len;
      }
      if (cp > 0x10FFFF) error("code point out of range");
      if (cp < 0x80) out += static_cast<char>(cp);
      else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
      else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18)); out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    return doc_.string(out);
  }

  void step() {
    switch (op_) {
      case 0x80: {  // PROTO
        uint64_t v = take_le(1);
        if (v > 5) error("pickle protocol ", v, " is newer than 5");
        break;
      }
      case 0x95: take_le(8); break;  // FRAME: framing is only a hint for buffered readers
      case '(': marks_.push_back(stack_.size()); break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'N': push(doc_.none()); break;
      case 0x88: push(doc_.boolean(true)); break;
      case 0x89: push(doc_.boolean(false)); break;
      case 'K': push(doc_.integer(static_cast<int64_t>(take_le(1)))); break;
      case 'M': push(doc_.integer(static_cast<int64_t>(take_le(2)))); break;
      case 'J': push(doc_.integer(static_cast<int32_t>(static_cast<uint32_t>(take_le(4))))); break;
      case 0x8a: {  // LONG1
        uint64_t n = take_le(1);
        push(make_long(take(n), static_cast<size_t>(n)));
        break;
      }
      case 0x8b: {  // LONG4
        int64_t n = static_cast<int32_t>(static_cast<uint32_t>(take_le(4)));
        if (n < 0) error("LONG4 with a negative length");
        push(make_long(take(static_cast<uint64_t>(n)), static_cast<size_t>(n)));
        break;
      }
      case 'I': push(parse_int_line(take_line())); break;
      case 'L': push(parse_decimal(take_line())); break;
      case 'G': {  // BINFLOAT: big-endian double
        const uint8_t* p = take(8);
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
        double d;
        std::memcpy(&d, &u, 8);
        push(doc_.number(d));
        break;
      }
      case 'F': {
        std::string s = take_line();
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (end == s.c_str()) error("bad float text");
        push(doc_.number(d));
        break;
      }
      case 'X': { uint64_t n = take_le(4); push(make_string(take(n), static_cast<size_t>(n))); break; }
      case 0x8c: { uint64_t n = take_le(1); push(make_string(take(n), static_cast<size_t>(n))); break; }
      case 0x8d: { uint64_t n = take_le(8); push(make_string(take(n), static_cast<size_t>(n))); break; }
      case 'V': push(parse_raw_unicode(take_line())); break;
      case 'S': push(parse_quoted_string(take_line())); break;
      case 'T':
      case 'U': {  // BINSTRING, SHORT_BINSTRING (Python 2 str): text when it is UTF-8
        uint64_t n = op_ == 'T' ? take_le(4) : take_le(1);
        const uint8_t* p = take(n);
        push(valid_utf8(p, static_cast<size_t>(n)) ? make_string(p, static_cast<size_t>(n))
                                                   : make_bytes(p, static_cast<size_t>(n)));
        break;
      }
      case 'B': { uint64_t n = take_le(4); push(make_bytes(take(n), static_cast<size_t>(n))); break; }
      case 'C': { uint64_t n = take_le(1); push(make_bytes(take(n), static_cast<size_t>(n))); break; }
      case 0x8e:
      case 0x96: { uint64_t n = take_le(8); push(make_bytes(take(n), static_cast<size_t>(n))); break; }
      case 0x97: error("out-of-band buffers (NEXT_BUFFER) are not supported");
      case 0x98: top(); break;  // READONLY_BUFFER: a flag on the buffer below
      case ')': push(doc_.tuple()); break;
      case 't': push(doc_.tuple(pop_mark())); break;
      case 0x85: { Node* a = pop(); push(doc_.tuple({a})); break; }
      case 0x86: { Node* b = pop(); Node* a = pop(); push(doc_.tuple({a, b})); break; }
      case 0x87: { Node* c = pop(); Node* b = pop(); Node* a = pop(); push(doc_.tuple({a, b, c})); break; }
      case ']': push(doc_.list()); break;
      case 'l': push(doc_.list(pop_mark())); break;
      case '}': push(doc_.dict()); break;
      case 'd': {
        std::vector<Node*> kv = pop_mark();
        Node* d = doc_.dict();
        set_items(d, std::move(kv));
        push(d);
        break;
      }
      case 0x8f: { Node* s = doc_.make(Kind::kSet); s->tag = "set"; push(s); break; }
      case 0x91: { Node* s = doc_.make(Kind::kSet); s->tag = "frozenset"; s->items = pop_mark(); push(s); break; }
      case 0x90: { std::vector<Node*> v = pop_mark(); Node* s = top(); if (s->kind != Kind::kSet) error("ADDITEMS on a ", kind_name(s->kind)); append_items(s, std::move(v)); break; }
      case 'a': { Node* v = pop(); append_items(top(), {v}); break; }
      case 'e': { std::vector<Node*> v = pop_mark(); append_items(top(), std::move(v)); break; }
      case 's': { Node* v = pop(); Node* k = pop(); set_items(top(), {k, v}); break; }
      case 'u': { std::vector<Node*> kv = pop_mark(); set_items(top(), std::move(kv)); break; }
      case 'p': memo_put(std::strtoull(take_line().c_str(), nullptr, 10)); break;
      case 'q': memo_put(take_le(1)); break;
      case 'r': memo_put(take_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'g': push(memo_get(std::strtoull(take_line().c_str(), nullptr, 10))); break;
      case 'h': push(memo_get(take_le(1))); break;
      case 'j': push(memo_get(take_le(4))); break;
      case 'c': {
        std::string module = take_line();
        std::string name = take_line();
        push(make_global(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Node* name = pop();
        Node* module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString) error("STACK_GLOBAL needs two strings");
        charge(module->text.size() + name->text.size());
        push(make_global(module->text, name->text));
        break;
      }
      case 'R': {
        Node* args = pop();
        Node* callable = pop();
        push(call(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        Node* args = pop();
        Node* cls = pop();
        if (args->kind != Kind::kTuple) error("NEWOBJ arguments must be a tuple");
        Role role = role_of(cls);
        if (role == Role::kOrderedDict) push(doc_.dict(true));
        else if (role == Role::kPlainObject) {
          Node* o = doc_.object(cls, args);
          o->via_newobj = true;
          push(o);
        } else {
          push(call(cls, args));
        }
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        Node* kwargs = pop();
        Node* args = pop();
        Node* cls = pop();
        if (role_of(cls) != Role::kPlainObject) error("NEWOBJ_EX of '", cls->qualified_name(), "'");
        Node* o = doc_.object(cls, args);
        o->kwargs = kwargs;
        o->via_newobj = true;
        push(o);
        break;
      }
      case 'b': {  // BUILD
        Node* state = pop();
        Node* target = top();
        // objects, dicts with instance attributes (a state_dict's _metadata), tensors' python attributes
        if (target->kind == Kind::kObject || target->kind == Kind::kDict || target->kind == Kind::kTensor)
          target->state = state;
        else
          error("BUILD on a ", kind_name(target->kind));
        break;
      }
      case 'Q': push(persistent(pop())); break;             // BINPERSID
      case 'P': push(persistent(doc_.string(take_line()))); break;  // PERSID
      case 'i':
      case 'o': error("INST/OBJ (protocol 0 class instantiation) is not supported");
      case 0x82:
      case 0x83:
      case 0x84: error("extension registry codes (EXT1/2/4) are not supported");
      default: error("unknown opcode");
    }
  }

  ByteView data_;
  const std::string& source_;
  const ReadOptions& options_;
  Document doc_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<Node*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Node*> memo_;
  std::unordered_map<const Node*, Role> roles_;
  std::unordered_map<const Node*, Node*> persisted_;
  uint64_t copied_ = 0;
};

}  // namespace

Document read(ByteView data, const std::string& source, const ReadOptions& options) {
  return Machine(data, source, options).run();
}

bool is_allowed_global(const std::string& module, const std::string& name) {
  return resolve(module, name, ReadOptions{}).allowed;
}

}  // namespace mb::pickle
