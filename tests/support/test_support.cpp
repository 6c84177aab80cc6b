#include "support/test_support.h"

#include <dirent.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <fstream>
#include <sstream>
#include <thread>

#include "bridge/convert.h"
#include "core/paths.h"
#include "io/megatron_tracker.h"

namespace mbtest {

using mb::json::Value;
using mb::pickle::Kind;
using mb::pickle::Node;

std::string fixture(const std::string& relative) { return mb::join_path(MB_FIXTURES_DIR, relative); }

std::string scratch_dir(const std::string& name) {
  const char* base = std::getenv("MB_TEST_TMP");
  std::string root = base ? base : "/tmp/mbridge-tests";
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = mb::join_path(root, std::string(info ? info->test_suite_name() : "x") + "." +
                                            (info ? info->name() : "y") + "." + name);
  mb::remove_tree(dir);
  mb::make_directories(dir);
  return dir;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::pair<std::string, std::unique_ptr<mb::bridge::ParamSource>>> hf_and_megatron_sources(
    const std::string& hf_dir, const std::string& name) {
  static std::map<std::string, std::string> imported;  // name -> the Megatron checkpoint
  auto it = imported.find(name);
  if (it == imported.end()) {
    const std::string root = mb::join_path(scratch_dir(name), "mg");
    mb::bridge::ImportOptions o;
    o.target.layout.tp = 2;
    o.target.layout.pp = 2;
    o.target.fsync = false;
    mb::bridge::import_checkpoint(hf_dir, root, o);
    it = imported.emplace(name, root).first;
  }
  std::vector<std::pair<std::string, std::unique_ptr<mb::bridge::ParamSource>>> out;
  out.emplace_back("Hugging Face", mb::bridge::open_hf_source(hf_dir));
  out.emplace_back("Megatron TP2 x PP2", mb::bridge::open_megatron_source(it->second, {}));
  return out;
}

int free_port() {
  std::random_device seed;
  return 20000 + static_cast<int>(seed() % 30000);
}

mb::Status status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const mb::Error& e) {
    return e.status();
  }
  return mb::Status::kOk;
}

std::vector<RankOutcome> run_ranks(int world, const std::function<void(int rank)>& rank) {
  std::vector<RankOutcome> outcomes(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        rank(r);
      } catch (const mb::Error& e) {
        outcomes[static_cast<size_t>(r)] = {e.status(), e.what()};
      }
    });
  for (auto& t : threads) t.join();
  return outcomes;
}

std::string bigint_decimal(const std::string& le) {
  // magnitude of a two's-complement number, as little-endian base-256 digits
  std::vector<uint8_t> mag(le.begin(), le.end());
  bool negative = !mag.empty() && (mag.back() & 0x80);
  if (negative) {
    int carry = 1;
    for (auto& b : mag) {
      int v = static_cast<uint8_t>(~b) + carry;
      b = static_cast<uint8_t>(v & 0xFF);
      carry = v >> 8;
    }
  }
  std::string digits;
  while (true) {
    bool zero = true;
    int rem = 0;
    for (size_t i = mag.size(); i-- > 0;) {
      int cur = rem * 256 + mag[i];
      mag[i] = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      if (mag[i]) zero = false;
    }
    digits += static_cast<char>('0' + rem);
    if (zero) break;
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (negative) digits += '-';
  return std::string(digits.rbegin(), digits.rend());
}

namespace {
Value tagged(const char* tag, Value v) {
  Value o = Value::object();
  o.set(tag, std::move(v));
  return o;
}
Value array_of(const std::vector<Node*>& items, const std::string& prefix) {
  Value a = Value::array();
  for (size_t i = 0; i < items.size(); ++i) a.push(describe(items[i], prefix + "." + std::to_string(i)));
  return a;
}
std::string key_text(const Node* k) {
  if (k->kind == Kind::kString) return k->text;
  if (k->kind == Kind::kInt) return std::to_string(k->integer);
  return "?";
}
}  // namespace

Value describe(const Node* n, const std::string& prefix) {
  switch (n->kind) {
    case Kind::kNone: return Value();
    case Kind::kBool: return Value(n->boolean);
    case Kind::kInt: return tagged("int", std::to_string(n->integer));
    case Kind::kBigInt: return tagged("int", bigint_decimal(n->text));
    case Kind::kFloat: {
      uint64_t u;
      std::memcpy(&u, &n->number, 8);
      char buf[20];
      std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(u));
      return tagged("f64", std::string(buf));
    }
    case Kind::kString: return Value(n->text);
    case Kind::kBytes: {
      std::string hex;
      char buf[3];
      for (unsigned char c : n->text) {
        std::snprintf(buf, sizeof(buf), "%02x", c);
        hex += buf;
      }
      return tagged("bytes", hex);
    }
    case Kind::kDType: return tagged("dtype", std::string(mb::dtype_torch_name(n->dtype)));
    case Kind::kTensor: return tagged("tensor", prefix);
    case Kind::kTuple:
      if (n->tag == "torch.Size") {
        Value a = Value::array();
        for (const Node* x : n->items) a.push(Value(x->integer));
        return tagged("size", std::move(a));
      }
      return tagged("tuple", array_of(n->items, prefix));
    case Kind::kList: return tagged("list", array_of(n->items, prefix));
    case Kind::kSet: return tagged("set", array_of(n->items, prefix));
    case Kind::kDict: {
      Value pairs = Value::array();
      for (size_t i = 0; i + 1 < n->items.size(); i += 2) {
        std::string k = key_text(n->items[i]);
        Value pair = Value::array();
        pair.push(describe(n->items[i]));
        pair.push(describe(n->items[i + 1], prefix.empty() ? k : prefix + "." + k));
        pairs.push(std::move(pair));
      }
      return tagged(n->tag == "collections.OrderedDict" ? "odict" : "dict", std::move(pairs));
    }
    case Kind::kObject: {
      Value o = Value::object();
      o.set("object", n->qualified_name());
      if (n->args && !n->args->items.empty()) o.set("args", array_of(n->args->items, prefix));
      if (n->state) o.set("state", describe(n->state, prefix));
      return o;
    }
    case Kind::kGlobal: return tagged("global", n->qualified_name());
    case Kind::kStorage: return tagged("storage", n->text);
  }
  return Value();
}

::testing::AssertionResult BitwiseEqual(const mb::Tensor& a, const mb::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << a.describe() << " vs " << b.describe();
  if (!mb::bitwise_equal(a, b)) return ::testing::AssertionFailure() << a.describe() << ": bytes differ";
  return ::testing::AssertionSuccess();
}

std::string rewrite_torch_dist(const mb::TorchDistCheckpoint& src, const std::string& root, int files, int parts,
                               bool common_pt) {
  mb::DistWriteOptions o;
  o.common_pt = common_pt;
  o.fsync = false;
  mb::TorchDistWriter w(mb::join_path(root, mb::iteration_dir_name(src.iteration())), files, o);
  for (const mb::DistTensor& t : src.tensors()) w.add_tensor(t.key, src.read(t.key), t.shape.size() - 1, parts);
  int f = 0;
  for (const mb::DistBytes& b : src.byte_items()) {
    if (b.key == "common_state/shard_0_1") continue;
    mb::ByteView v = src.read_bytes(b);
    w.add_bytes(b.key, std::string(reinterpret_cast<const char*>(v.data), v.size), f++ % files);
  }
  mb::TorchDistCheckpoint::CommonState common = src.common_state();
  mb::TorchSaveWriter cw;
  if (common.state) w.set_common_state(cw, cw.import(*common.file, common.state));
  std::string dir = w.finish();
  mb::write_tracker(root, src.iteration());
  return dir;
}

}  // namespace mbtest

namespace mbtest {

std::string tokenizer_models(const std::string& name) {
  const char* env = std::getenv("MB_TOKENIZER_CACHE");
  return (env ? std::string(env) : std::string(MB_SOURCE_DIR) + "/.cache/tokenizers") + "/" + name + "/package/models";
}

std::vector<std::string> names_with_suffix(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string f = e->d_name;
      if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
        names.push_back(f.substr(0, f.size() - suffix.size()));
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mbtest
