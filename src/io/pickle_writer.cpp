#include "io/pickle_writer.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/error.h"

namespace mb::pickle {
namespace {

class Writer {
 public:
  explicit Writer(const WriteOptions& options) : options_(options) {
    if (options.protocol != 2 && options.protocol != 4)
      fail(Status::kInvalidArgument, "pickle protocol ", options.protocol, " (2 and 4 are written)");
  }

  std::string run(const Node* root) {
    op(0x80);
    out_ += static_cast<char>(options_.protocol);
    save(root, 0);
    op('.');
    return std::move(out_);
  }

 private:
  void op(uint8_t c) { out_ += static_cast<char>(c); }
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xFF);
  }
  void raw(const std::string& s) { out_ += s; }
  bool p4() const { return options_.protocol >= 4; }

  void put(const Node* n) {
    uint32_t index = static_cast<uint32_t>(memo_.size());
    memo_[n] = index;
    if (p4()) {
      op(0x94);  // MEMOIZE
    } else if (index < 256) {
      op('q');
      le(index, 1);
    } else {
      op('r');
      le(index, 4);
    }
  }

  bool get(const Node* n) {
    auto it = memo_.find(n);
    if (it == memo_.end()) return false;
    if (it->second < 256) {
      op('h');
      le(it->second, 1);
    } else {
      op('j');
      le(it->second, 4);
    }
    return true;
  }

  void global(const std::string& module, const std::string& name) {
    if (p4()) {
      unicode(module);
      unicode(name);
      op(0x93);  // STACK_GLOBAL
    } else {
      op('c');
      raw(module + "\n" + name + "\n");
    }
  }

  void unicode(const std::string& s) {
    if (p4() && s.size() < 256) {
      op(0x8c);
      le(s.size(), 1);
    } else if (s.size() <= 0xFFFFFFFFu) {
      op('X');
      le(s.size(), 4);
    } else {
      op(0x8d);
      le(s.size(), 8);
    }
    raw(s);
  }

  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      op('M');
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {
      // LONG1 with the shortest two's-complement encoding
      std::string b;
      uint64_t u = static_cast<uint64_t>(v);
      for (int i = 0; i < 8; ++i) b += static_cast<char>((u >> (8 * i)) & 0xFF);
      while (b.size() > 1) {
        uint8_t last = static_cast<uint8_t>(b.back());
        uint8_t prev = static_cast<uint8_t>(b[b.size() - 2]);
        if ((last == 0x00 && !(prev & 0x80)) || (last == 0xFF && (prev & 0x80))) b.pop_back();
        else break;
      }
      op(0x8a);
      le(b.size(), 1);
      raw(b);
    }
  }

  void ordered_dict_empty() {
    global("collections", "OrderedDict");
    op(')');
    op('R');
  }

  void save_items(const std::vector<Node*>& items, int depth) {
    for (const Node* x : items) save(x, depth + 1);
  }

  void appends(const std::vector<Node*>& items, int depth) {
    for (size_t i = 0; i < items.size(); i += 1000) {
      size_t end = std::min(items.size(), i + 1000);
      if (end - i == 1) {
        save(items[i], depth + 1);
        op('a');
        continue;
      }
      op('(');
      for (size_t k = i; k < end; ++k) save(items[k], depth + 1);
      op('e');
    }
  }

  void setitems(const std::vector<Node*>& kv, int depth) {
    for (size_t i = 0; i < kv.size(); i += 2000) {
      size_t end = std::min(kv.size(), i + 2000);
      if (end - i == 2) {
        save(kv[i], depth + 1);
        save(kv[i + 1], depth + 1);
        op('s');
        continue;
      }
      op('(');
      for (size_t k = i; k < end; ++k) save(kv[k], depth + 1);
      op('u');
    }
  }

  void tuple_items(const std::vector<Node*>& items, int depth) {
    if (items.empty()) {
      op(')');
    } else if (items.size() <= 3) {
      save_items(items, depth);
      op(static_cast<uint8_t>(0x84 + items.size()));  // TUPLE1..3
    } else {
      op('(');
      save_items(items, depth);
      op('t');
    }
  }

  void save(const Node* n, int depth) {
    if (!n) fail(Status::kInternal, "pickle writer: null node");
    if (depth > kMaxTraversalDepth) fail(Status::kInvalidArgument, "pickle writer: value nested too deeply (a cycle?)");
    if (get(n)) return;
    switch (n->kind) {
      case Kind::kNone: op('N'); return;
      case Kind::kBool: op(n->boolean ? 0x88 : 0x89); return;
      case Kind::kInt: integer(n->integer); return;
      case Kind::kBigInt:
        if (n->text.size() < 256) { op(0x8a); le(n->text.size(), 1); }
        else { op(0x8b); le(n->text.size(), 4); }
        raw(n->text);
        return;
      case Kind::kFloat: {
        uint64_t u;
        std::memcpy(&u, &n->number, 8);
        op('G');
        for (int i = 7; i >= 0; --i) out_ += static_cast<char>((u >> (8 * i)) & 0xFF);
        return;
      }
      case Kind::kString: unicode(n->text); put(n); return;
      case Kind::kBytes:
        if (p4()) {
          if (n->text.size() < 256) { op('C'); le(n->text.size(), 1); }
          else if (n->text.size() <= 0xFFFFFFFFu) { op('B'); le(n->text.size(), 4); }
          else { op(0x8e); le(n->text.size(), 8); }
          raw(n->text);
        } else if (n->text.empty()) {
          global("__builtin__", "bytes");
          op(')');
          op('R');
        } else {
          // protocol 2 has no bytes opcode: _codecs.encode(<the bytes as latin-1 text>, 'latin1')
          global("_codecs", "encode");
          std::string text;
          for (unsigned char c : n->text) {
            if (c < 0x80) text += static_cast<char>(c);
            else { text += static_cast<char>(0xC0 | (c >> 6)); text += static_cast<char>(0x80 | (c & 0x3F)); }
          }
          unicode(text);
          unicode("latin1");
          op(0x86);
          op('R');
        }
        put(n);
        return;
      case Kind::kTuple:
        if (n->tag == "torch.Size") {
          global("torch", "Size");
          tuple_items(n->items, depth);
          op(0x85);
          op('R');
        } else {
          tuple_items(n->items, depth);
        }
        put(n);
        return;
      case Kind::kList:
        op(']');
        put(n);
        appends(n->items, depth);
        return;
      case Kind::kDict:
        if (n->tag == "collections.OrderedDict") ordered_dict_empty();
        else op('}');
        put(n);
        setitems(n->items, depth);
        if (n->state) {
          save(n->state, depth + 1);
          op('b');
        }
        return;
      case Kind::kSet:
        if (p4() && n->tag != "frozenset") {
          op(0x8f);
          put(n);
          if (!n->items.empty()) {
            op('(');
            save_items(n->items, depth);
            op(0x90);
          }
        } else {
          global(p4() ? "builtins" : "__builtin__", n->tag == "frozenset" ? "frozenset" : "set");
          op(']');
          appends(n->items, depth);
          op(0x85);
          op('R');
          put(n);
        }
        return;
      case Kind::kGlobal: global(n->text, n->name); put(n); return;
      case Kind::kDType: global("torch", dtype_torch_name(n->dtype)); put(n); return;
      case Kind::kObject:
        save(n->cls, depth + 1);
        if (n->via_newobj) {
          if (n->args) save(n->args, depth + 1);
          else op(')');
          op(0x81);  // NEWOBJ
        } else {
          if (n->args) save(n->args, depth + 1);
          else op(')');
          op('R');
        }
        put(n);
        if (!n->items.empty()) appends(n->items, depth);
        if (!n->dict_items.empty()) setitems(n->dict_items, depth);
        if (n->state) {
          save(n->state, depth + 1);
          op('b');
        }
        return;
      case Kind::kStorage: {
        if (!options_.persistent_id) fail(Status::kInternal, "pickle writer: storage without a persistent-id writer");
        Node* pid = options_.persistent_id(n);
        save(pid, depth + 1);
        op('Q');  // BINPERSID
        return;
      }
      case Kind::kTensor: {
        // dtypes without a typed storage class (fp8) go through v3, which names the dtype
        const bool v3 = dtype_storage_class(n->dtype) == nullptr;
        if (n->is_parameter) global("torch._utils", "_rebuild_parameter");
        global("torch._utils", v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2");
        op('(');
        save(n->storage, depth + 1);
        integer(n->storage_offset);
        dims(n->shape);
        dims(n->strides);
        op(n->requires_grad && !n->is_parameter ? 0x88 : 0x89);
        ordered_dict_empty();
        if (v3) global("torch", dtype_torch_name(n->dtype));
        op('t');
        op('R');
        if (n->is_parameter) {
          op(n->requires_grad ? 0x88 : 0x89);
          ordered_dict_empty();
          op(0x87);
          op('R');
        }
        put(n);
        return;
      }
    }
  }

  void dims(const Dims& d) {
    if (d.size() == 0) { op(')'); return; }
    if (d.size() <= 3) {
      for (int64_t x : d) integer(x);
      op(static_cast<uint8_t>(0x84 + d.size()));
      return;
    }
    op('(');
    for (int64_t x : d) integer(x);
    op('t');
  }

  const WriteOptions& options_;
  std::string out_;
  std::unordered_map<const Node*, uint32_t> memo_;
};

}  // namespace

std::string write(const Node* root, const WriteOptions& options) { return Writer(options).run(root); }

}  // namespace mb::pickle
