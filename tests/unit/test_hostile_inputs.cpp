// Hostile and corrupt inputs, one table row each: the row builds its files in a scratch folder (a damaged
// copy of a fixture written by torch / Megatron-Core, or bytes written by hand), opens them with the
// matching reader and reads every tensor. Every row must end in an mb::Error -- never a crash, a hang,
// a sanitizer report or another exception type -- with the expected status and a message naming the
// file (or folder) at fault.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <typeinfo>

#include "core/byte_sink.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "io/megatron_legacy.h"
#include "io/megatron_tracker.h"
#include "io/pickle_reader.h"
#include "io/pickle_writer.h"
#include "io/safetensors.h"
#include "io/safetensors_sharded.h"
#include "io/torch_dist.h"
#include "io/torch_save.h"
#include "io/zip.h"
#include "support/test_support.h"

using namespace mb;
namespace fs = std::filesystem;

namespace {

// ---- bytes -----------------------------------------------------------------------------------------------

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A .safetensors image: the header as given (padded to 8 bytes) and `data_bytes` zero bytes of data.
std::string safetensors_bytes(const std::string& header, size_t data_bytes) {
  std::string h = header;
  h.append((8 - h.size() % 8) % 8, ' ');
  return le(h.size(), 8) + h + std::string(data_bytes, '\0');
}

std::string copy_fixture(const std::string& relative, const std::string& to) {
  fs::copy(mbtest::fixture(relative), to, fs::copy_options::recursive);
  return to;
}

void truncate_file(const std::string& path, uint64_t size) { fs::resize_file(path, size); }

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found";
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// ---- zip archives ------------------------------------------------------------------------------------------

struct ZipItem {
  std::string name;
  std::string data;
};

std::string zip_bytes(const std::vector<ZipItem>& items) {
  MemorySink sink;
  ZipWriter zip(sink);
  for (const ZipItem& i : items) zip.add(i.name, i.data);
  zip.finish();
  return std::string(sink.bytes().begin(), sink.bytes().end());
}

// Hand-made zip records (no alignment padding), for layouts ZipWriter would never produce.
std::string local_header(const std::string& name, uint32_t size, uint16_t method = 0) {
  return le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(0, 4) + le(size, 4) + le(size, 4) +
         le(name.size(), 2) + le(0, 2) + name;
}
std::string central_header(const std::string& name, uint32_t size, uint32_t offset, uint16_t method = 0) {
  return le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(0, 4) + le(size, 4) +
         le(size, 4) + le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + name;
}
std::string end_record(uint64_t count, uint64_t cd_size, uint64_t cd_offset) {
  return le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(count, 2) + le(count, 2) + le(cd_size, 4) + le(cd_offset, 4) +
         le(0, 2);
}

// ---- pickles -------------------------------------------------------------------------------------------

std::string p_global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string p_str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string p_int(int32_t v) { return "J" + le(static_cast<uint32_t>(v), 4); }
std::string p_ints(const std::vector<int32_t>& v) {
  std::string s = "(";
  for (int32_t x : v) s += p_int(x);
  return s + "t";
}
const std::string kProto2 = std::string("\x80\x02", 2);

// torch._utils._rebuild_tensor_v2(<storage 'key' of numel floats>, offset, shape, strides, False, OrderedDict())
std::string tensor_pickle(const std::string& key, int32_t numel, int32_t offset, const std::vector<int32_t>& shape,
                          const std::vector<int32_t>& strides) {
  std::string p = kProto2 + p_global("torch._utils", "_rebuild_tensor_v2") + "(";
  p += "(" + p_str("storage") + p_global("torch", "FloatStorage") + p_str(key) + p_str("cpu") + p_int(numel) + "tQ";
  p += p_int(offset) + p_ints(shape) + p_ints(strides) + "\x89";
  p += p_global("collections", "OrderedDict") + ")R";
  return p + "tR.";
}

// A torch.save archive holding `pkl` as archive/data.pkl and the given storages as archive/data/<key>.
std::string torch_archive(const std::string& pkl, const std::vector<ZipItem>& storages = {}) {
  std::vector<ZipItem> items{{"archive/data.pkl", pkl}, {"archive/byteorder", "little"}};
  for (const ZipItem& s : storages) items.push_back({"archive/data/" + s.name, s.data});
  items.push_back({"archive/version", "3\n"});
  return zip_bytes(items);
}

// ---- DCP metadata, edited as a pickle document ---------------------------------------------------------

pickle::Node* attr(pickle::Node* object, const std::string& key) {
  pickle::Node* state = object ? object->state : nullptr;
  if (!state || state->kind != pickle::Kind::kDict) return nullptr;
  for (size_t i = 0; i + 1 < state->items.size(); i += 2)
    if (state->items[i]->kind == pickle::Kind::kString && state->items[i]->text == key) return state->items[i + 1];
  return nullptr;
}

void set_attr(pickle::Node* object, const std::string& key, pickle::Node* value) {
  pickle::Node* state = object->state;
  for (size_t i = 0; i + 1 < state->items.size(); i += 2)
    if (state->items[i]->kind == pickle::Kind::kString && state->items[i]->text == key) {
      state->items[i + 1] = value;
      return;
    }
  ADD_FAILURE() << "no attribute " << key;
}

// Reads an iteration folder's .metadata, lets `edit` change it, writes it back (protocol 4, as torch does).
void edit_metadata(const std::string& iteration_dir, const std::function<void(pickle::Document&)>& edit) {
  const std::string path = join_path(iteration_dir, ".metadata");
  std::string bytes = mbtest::read_file(path);
  pickle::Document doc = pickle::read(ByteView{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, path);
  edit(doc);
  pickle::WriteOptions wo;
  wo.protocol = 4;
  mbtest::write_file(path, pickle::write(doc.root, wo));
}

// The first tensor of the metadata stored in at least two chunks.
pickle::Node* first_split_tensor(pickle::Document& doc) {
  pickle::Node* sdm = attr(doc.root, "state_dict_metadata");
  for (size_t i = 0; sdm && i + 1 < sdm->items.size(); i += 2) {
    pickle::Node* chunks = attr(sdm->items[i + 1], "chunks");
    if (chunks && chunks->items.size() >= 2) return sdm->items[i + 1];
  }
  ADD_FAILURE() << "no tensor with two chunks";
  return nullptr;
}

Dims dims_of(const pickle::Node* n) { return pickle::as_dims(n, "test", "dims"); }

// ---- readers: open, then read everything -----------------------------------------------------------------

enum class Reader { kSafetensors, kSafetensorsFolder, kTorchSave, kTorchDist, kMegatronLegacy, kHfConfig };

void read_all_torch(const TorchSaveFile& f, const pickle::Node* root) {
  for (const auto& [name, node] : collect_tensors(root, "", f.source())) f.tensor(node).clone();
}

void open_and_read(Reader reader, const std::string& path) {
  switch (reader) {
    case Reader::kSafetensors: {
      auto f = SafetensorsFile::open(path);
      for (const SafetensorsEntry& e : f->entries()) f->tensor(e).clone();
      break;
    }
    case Reader::kSafetensorsFolder: {
      auto folder = SafetensorsFolder::open(path);
      for (const std::string& name : folder->names()) folder->tensor(name).clone();
      break;
    }
    case Reader::kTorchSave: {
      auto f = TorchSaveFile::open(path);
      read_all_torch(*f, f->root());
      break;
    }
    case Reader::kTorchDist: {
      auto ck = TorchDistCheckpoint::open(path);
      for (const DistTensor& t : ck->tensors()) ck->read(t.key).clone();
      for (const DistBytes& b : ck->byte_items()) ck->read_bytes(b);
      break;
    }
    case Reader::kMegatronLegacy: {
      auto ck = MegatronLegacyCheckpoint::open(path);
      for (size_t r = 0; r < ck->ranks().size(); ++r)
        for (const auto& [name, model] : ck->models(r)) read_all_torch(ck->rank_file(r), model);
      break;
    }
    case Reader::kHfConfig: load_hf_config(path); break;
  }
}

// ---- the table ---------------------------------------------------------------------------------------------

struct Built {
  std::string open;   // what the reader is given
  std::string fault;  // the file or folder the message must name
};

struct HostileCase {
  const char* name;
  Reader reader;
  Status status;
  const char* reason;  // a word the message must contain, so the row fails for the reason it is about
  std::function<Built(const std::string& dir)> build;
};

std::ostream& operator<<(std::ostream& os, const HostileCase& c) { return os << c.name; }

// A file written by hand: the reader opens it and it is at fault.
Built file(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::string path = join_path(dir, name);
  mbtest::write_file(path, bytes);
  return {path, path};
}

Built pickle_in_archive(const std::string& dir, const std::string& pkl) {
  return file(dir, "model.pt", torch_archive(pkl));
}

// A copy of an mcore fixture's iteration folder (.metadata, *.distcp, metadata.json).
std::string mcore_copy(const std::string& dir, const std::string& layout) {
  return copy_fixture("foundation/mcore/" + layout + "/iter_0000010", join_path(dir, "iter_0000010"));
}

std::string legacy_copy(const std::string& dir, const std::string& layout) {
  return copy_fixture("foundation/legacy/" + layout + "/iter_0000010", join_path(dir, "iter_0000010"));
}

const std::string kTinyLlama = "foundation/hf_tiny_llama_sharded";

std::vector<HostileCase> cases() {
  using R = Reader;
  const Status F = Status::kFormat;
  return {
      // ---- safetensors ----
      {"st_truncated", R::kSafetensors, F, "past", [](const std::string& d) {
         std::string bytes = mbtest::read_file(mbtest::fixture("foundation/casts.safetensors"));
         return file(d, "casts.safetensors", bytes.substr(0, bytes.size() / 2));
       }},
      {"st_truncated_inside_header", R::kSafetensors, F, "header", [](const std::string& d) {
         std::string bytes = mbtest::read_file(mbtest::fixture("foundation/casts.safetensors"));
         return file(d, "casts.safetensors", bytes.substr(0, 200));
       }},
      {"st_shorter_than_length_prefix", R::kSafetensors, F, "short", [](const std::string& d) {
         return file(d, "x.safetensors", std::string("\x10\x00\x00", 3));
       }},
      {"st_header_length_10GB", R::kSafetensors, F, "header length", [](const std::string& d) {
         return file(d, "x.safetensors", le(10'000'000'000ull, 8) + "{}      ");
       }},
      {"st_header_sizes_lie", R::kSafetensors, F, "needs", [](const std::string& d) {
         // F32[2, 2] needs 16 bytes, the offsets give it 8
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 8));
       }},
      {"st_offsets_past_end", R::kSafetensors, F, "past", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
       }},
      {"st_shape_product_overflows", R::kSafetensors, F, "overflows", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(
                         R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})", 0));
       }},
      {"st_hole_between_tensors", R::kSafetensors, F, "hole", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                       12));
       }},
      {"st_overlapping_tensors", R::kSafetensors, F, "overlaps", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                       12));
       }},
      {"st_duplicate_name", R::kSafetensors, F, "twice", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                       8));
       }},
      {"st_unknown_dtype", R::kSafetensors, F, "F48", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F48","shape":[1],"data_offsets":[0,6]}})", 6));
       }},
      {"st_header_invalid_utf8", R::kSafetensors, F, "UTF-8", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4));
       }},
      {"st_header_not_an_object", R::kSafetensors, F, "object", [](const std::string& d) {
         return file(d, "x.safetensors", safetensors_bytes("[1, 2, 3]", 0));
       }},
      {"st_header_object_then_garbage", R::kSafetensors, F, "JSON", [](const std::string& d) {
         return file(d, "x.safetensors", safetensors_bytes("{} {}", 0));
       }},
      {"st_negative_extent", R::kSafetensors, F, "negative", [](const std::string& d) {
         return file(d, "x.safetensors",
                     safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0));
       }},

      // ---- safetensors index (model.safetensors.index.json) ----
      {"index_shard_name_dotdot", R::kSafetensorsFolder, F, "..", [](const std::string& d) {
         std::string dir = copy_fixture(kTinyLlama, join_path(d, "model"));
         std::string index = join_path(dir, kSafetensorsIndexName);
         mbtest::write_file(index, replace_once(mbtest::read_file(index), "\"model-00001-of-00003.safetensors\"",
                                                "\"../model/model-00001-of-00003.safetensors\""));
         return Built{dir, index};
       }},
      {"index_shard_name_absolute", R::kSafetensorsFolder, F, "absolute", [](const std::string& d) {
         std::string dir = copy_fixture(kTinyLlama, join_path(d, "model"));
         std::string index = join_path(dir, kSafetensorsIndexName);
         mbtest::write_file(index, replace_once(mbtest::read_file(index), "\"model-00001-of-00003.safetensors\"",
                                                "\"" + join_path(dir, "model-00001-of-00003.safetensors") + "\""));
         return Built{dir, index};
       }},
      {"index_tensor_in_wrong_shard", R::kSafetensorsFolder, F, "does not hold", [](const std::string& d) {
         std::string dir = copy_fixture(kTinyLlama, join_path(d, "model"));
         std::string index = join_path(dir, kSafetensorsIndexName);
         mbtest::write_file(index, replace_once(mbtest::read_file(index),
                                                "\"lm_head.weight\": \"model-00003-of-00003.safetensors\"",
                                                "\"lm_head.weight\": \"model-00001-of-00003.safetensors\""));
         return Built{dir, index};
       }},
      {"index_names_missing_shard", R::kSafetensorsFolder, Status::kNotFound, "cannot open", [](const std::string& d) {
         std::string dir = copy_fixture(kTinyLlama, join_path(d, "model"));
         fs::remove(join_path(dir, "model-00002-of-00003.safetensors"));
         return Built{dir, join_path(dir, "model-00002-of-00003.safetensors")};
       }},
      {"index_shard_truncated", R::kSafetensorsFolder, F, "past", [](const std::string& d) {
         std::string dir = copy_fixture(kTinyLlama, join_path(d, "model"));
         std::string shard = join_path(dir, "model-00003-of-00003.safetensors");
         truncate_file(shard, file_size(shard) - 1);
         return Built{dir, shard};
       }},

      // ---- JSON and config.json ----
      {"json_nested_100000_arrays", R::kHfConfig, F, "JSON", [](const std::string& d) {
         return file(d, "config.json", std::string(100000, '[') + std::string(100000, ']'));
       }},
      {"json_nested_100000_objects", R::kHfConfig, F, "JSON", [](const std::string& d) {
         std::string s;
         for (int i = 0; i < 100000; ++i) s += "{\"a\":";
         return file(d, "config.json", s + "1" + std::string(100000, '}'));
       }},
      {"json_truncated", R::kHfConfig, F, "JSON", [](const std::string& d) {
         return file(d, "config.json", R"({"hidden_size": 64, "num_attention_heads": )");
       }},
      {"config_not_an_object", R::kHfConfig, F, "object", [](const std::string& d) {
         return file(d, "config.json", "[1, 2, 3]");
       }},
      {"config_wrong_type", R::kHfConfig, F, "hidden_size", [](const std::string& d) {
         return file(d, "config.json", R"({"hidden_size": "big"})");
       }},
      {"config_unknown_dtype", R::kHfConfig, F, "float128", [](const std::string& d) {
         return file(d, "config.json", R"({"torch_dtype": "float128"})");
       }},
      {"config_invalid_utf8", R::kHfConfig, F, "UTF-8", [](const std::string& d) {
         return file(d, "config.json", "{\"model_type\": \"ll\xc3\x28ma\"}");
       }},

      // ---- zip containers (torch.save files) ----
      {"pt_truncated", R::kTorchSave, F, "zip", [](const std::string& d) {
         std::string bytes = mbtest::read_file(mbtest::fixture("foundation/torch/values.pt"));
         return file(d, "values.pt", bytes.substr(0, bytes.size() / 2));
       }},
      {"pt_last_byte_missing", R::kTorchSave, F, "zip", [](const std::string& d) {
         std::string bytes = mbtest::read_file(mbtest::fixture("foundation/torch/values.pt"));
         return file(d, "values.pt", bytes.substr(0, bytes.size() - 1));
       }},
      {"zip_entry_name_dotdot", R::kTorchSave, F, "..", [](const std::string& d) {
         return file(d, "model.pt", zip_bytes({{"archive/data.pkl", kProto2 + "N."}, {"archive/../../escape", "x"}}));
       }},
      {"zip_entry_name_absolute", R::kTorchSave, F, "absolute", [](const std::string& d) {
         return file(d, "model.pt", zip_bytes({{"archive/data.pkl", kProto2 + "N."}, {"/etc/cron.d/escape", "x"}}));
       }},
      {"zip_entry_name_twice", R::kTorchSave, F, "twice", [](const std::string& d) {
         return file(d, "model.pt", zip_bytes({{"archive/data.pkl", kProto2 + "N."}, {"archive/data.pkl", "x"}}));
       }},
      {"zip_overlapping_entries", R::kTorchSave, F, "overlap", [](const std::string& d) {
         // entry b's local header and data lie inside entry a's data
         std::string inner = local_header("archive/b", 4) + "bbbb";
         std::string a_data = inner + std::string(64 - inner.size(), 'a');
         std::string body = local_header("archive/data.pkl", 64) + a_data;
         const uint32_t b_offset = static_cast<uint32_t>(30 + std::string("archive/data.pkl").size());
         std::string cd = central_header("archive/data.pkl", 64, 0) + central_header("archive/b", 4, b_offset);
         return file(d, "model.pt", body + cd + end_record(2, cd.size(), body.size()));
       }},
      {"zip_compressed_entry", R::kTorchSave, F, "compressed", [](const std::string& d) {
         std::string body = local_header("archive/data.pkl", 3, 8) + "N.x";
         std::string cd = central_header("archive/data.pkl", 3, 0, 8);
         return file(d, "model.pt", body + cd + end_record(1, cd.size(), body.size()));
       }},
      {"zip64_locator_outside_file", R::kTorchSave, F, "ZIP64", [](const std::string& d) {
         std::string body = local_header("archive/data.pkl", 3) + "N.x";
         std::string locator = le(0x07064b50, 4) + le(0, 4) + le(0x7FFFFFFFFFFFull, 8) + le(1, 4);
         return file(d, "model.pt", body + locator + end_record(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF));
       }},
      {"zip_central_directory_outside_file", R::kTorchSave, F, "central directory", [](const std::string& d) {
         std::string body = local_header("archive/data.pkl", 3) + "N.x";
         std::string cd = central_header("archive/data.pkl", 3, 0);
         return file(d, "model.pt", body + cd + end_record(1, cd.size(), 1u << 30));
       }},
      {"zip_entry_size_past_data", R::kTorchSave, F, "past", [](const std::string& d) {
         std::string body = local_header("archive/data.pkl", 3) + "N.x";
         std::string cd = central_header("archive/data.pkl", 1000, 0);
         return file(d, "model.pt", body + cd + end_record(1, cd.size(), body.size()));
       }},
      {"zip_count_beyond_directory", R::kTorchSave, F, "entries", [](const std::string& d) {
         std::string body = local_header("archive/data.pkl", 3) + "N.x";
         std::string cd = central_header("archive/data.pkl", 3, 0);
         return file(d, "model.pt", body + cd + end_record(5000, cd.size(), body.size()));
       }},

      // ---- pickles (archive/data.pkl) ----
      {"pickle_os_system", R::kTorchSave, F, "allow-list", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + p_global("os", "system") + "(" + p_str("touch /tmp/mbridge-pwned") + "tR.");
       }},
      {"pickle_builtins_eval", R::kTorchSave, F, "allow-list", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + p_global("builtins", "eval") + "(" + p_str("__import__('os')") + "tR.");
       }},
      {"pickle_stack_global_subprocess", R::kTorchSave, F, "allow-list", [](const std::string& d) {
         return pickle_in_archive(d, std::string("\x80\x04", 2) + p_str("subprocess") + p_str("Popen") + "\x93" + "(" +
                                         p_str("true") + "tR.");
       }},
      {"pickle_nested_200000_lists", R::kTorchSave, F, "nested", [](const std::string& d) {
         // parses fine (no recursion in the machine); collect_tensors must refuse to walk it
         return pickle_in_archive(d, kProto2 + std::string(200000, ']') + std::string(199999, 'a') + ".");
       }},
      {"pickle_shared_lists_doubling", R::kTorchSave, F, "nested", [](const std::string& d) {
         // x = [x', x'] 300 times: 2^300 paths through 300 nodes, then a cycle-free depth of 300
         std::string p = kProto2 + "]";
         for (int i = 0; i < 300; ++i) p += "2\x86";  // DUP, TUPLE2
         return pickle_in_archive(d, p + ".");
       }},
      {"pickle_nested_rebuild_from_type", R::kTorchSave, F, "_rebuild_from_type_v2", [](const std::string& d) {
         // _rebuild_from_type_v2(_rebuild_from_type_v2, Tensor, (_rebuild_from_type_v2, Tensor, (...))) 100000 deep
         const int n = 100000;
         std::string p = kProto2 + p_global("torch._tensor", "_rebuild_from_type_v2") + std::string("q\x00", 2) +
                         p_global("torch", "Tensor") + "q\x01" + "0";
         std::string pair = std::string("h\x00h\x01", 4);
         for (int i = 0; i < n; ++i) p += pair;
         p += ")" + std::string(n, '\x87') + "R.";
         return pickle_in_archive(d, p);
       }},
      {"pickle_memo_get_never_stored", R::kTorchSave, F, "memo", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "N" + std::string("q\x00", 2) + "h\x07" + ".");
       }},
      {"pickle_stack_underflow", R::kTorchSave, F, "underflow", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "NR.");
       }},
      {"pickle_pop_below_mark", R::kTorchSave, F, "underflow", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "N(0N.");
       }},
      {"pickle_long4_absurd_length", R::kTorchSave, F, "bytes", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "\x8b" + le(0x7FFFFFF0, 4) + ".");
       }},
      {"pickle_binunicode8_absurd_length", R::kTorchSave, F, "bytes", [](const std::string& d) {
         return pickle_in_archive(d, std::string("\x80\x04\x8d", 3) + le(0xFFFFFFFFFFFFFFF0ull, 8) + ".");
       }},
      {"pickle_binbytes8_absurd_length", R::kTorchSave, F, "bytes", [](const std::string& d) {
         return pickle_in_archive(d, std::string("\x80\x04\x8e", 3) + le(1ull << 62, 8) + ".");
       }},
      {"pickle_string_bad_hex_escape", R::kTorchSave, F, "hex", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "S'\\xZZ'\n.");
       }},
      {"pickle_unicode_bad_hex_escape", R::kTorchSave, F, "hex", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "V\\uZZZZ\n.");
       }},
      {"pickle_without_stop", R::kTorchSave, F, "STOP", [](const std::string& d) {
         return pickle_in_archive(d, kProto2 + "]" + p_str("unfinished") + "a");
       }},
      {"pickle_storage_key_dotdot", R::kTorchSave, F, "..", [](const std::string& d) {
         return pickle_in_archive(d, tensor_pickle("../../../etc/passwd", 4, 0, {4}, {1}));
       }},
      {"pickle_set_of_shared_list_amplified", R::kTorchSave, F, "copied", [](const std::string& d) {
         // a 20000-item list passed to set() 20000 times: 400 million copied items from a 160 kB pickle
         const int n = 20000;
         std::string p = kProto2 + "](N" + std::string(n - 1, '2') + "e";  // [None] * n
         p += std::string("q\x00", 2) + "0" + p_global("builtins", "set") + "q\x01" + "0";
         p += "(";
         for (int i = 0; i < n; ++i) p += std::string("h\x01h\x00\x85R", 6);  // set((the list,))
         return pickle_in_archive(d, p + "l.");
       }},
      {"storage_numel_exceeds_entry", R::kTorchSave, F, "holds", [](const std::string& d) {
         return file(d, "model.pt", torch_archive(tensor_pickle("0", 1000, 0, {1000}, {1}), {{"0", std::string(16, '\0')}}));
       }},
      {"tensor_strides_past_storage", R::kTorchSave, F, "storage", [](const std::string& d) {
         return file(d, "model.pt", torch_archive(tensor_pickle("0", 4, 0, {4, 4}, {4, 1}), {{"0", std::string(16, '\0')}}));
       }},
      {"tensor_offset_past_storage", R::kTorchSave, F, "storage", [](const std::string& d) {
         return file(d, "model.pt", torch_archive(tensor_pickle("0", 4, 3, {2}, {1}), {{"0", std::string(16, '\0')}}));
       }},
      {"tensor_storage_entry_missing", R::kTorchSave, F, "no entry", [](const std::string& d) {
         return file(d, "model.pt", torch_archive(tensor_pickle("7", 4, 0, {4}, {1}), {{"0", std::string(16, '\0')}}));
       }},
      {"pt_without_data_pkl", R::kTorchSave, F, "data.pkl", [](const std::string& d) {
         return file(d, "model.pt", zip_bytes({{"archive/version", "3\n"}, {"archive/data/0", "0000"}}));
       }},

      // ---- torch_dist (DCP) ----
      {"distcp_truncated", R::kTorchDist, F, "past the end", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         std::string distcp = join_path(it, "__0_0.distcp");
         truncate_file(distcp, file_size(distcp) / 2);
         return Built{it, distcp};
       }},
      {"distcp_zeroed", R::kTorchDist, F, "torch.save", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         std::string distcp = join_path(it, "__0_0.distcp");
         mbtest::write_file(distcp, std::string(file_size(distcp), '\0'));
         return Built{it, distcp};
       }},
      {"dcp_relative_path_dotdot", R::kTorchDist, F, "..", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         std::string md = join_path(it, ".metadata");
         mbtest::write_file(md, replace_once(mbtest::read_file(md), "__0_0.distcp", "../_0.distcp"));
         return Built{it, md};
       }},
      {"dcp_relative_path_absolute", R::kTorchDist, F, "absolute", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         std::string md = join_path(it, ".metadata");
         mbtest::write_file(md, replace_once(mbtest::read_file(md), "__0_0.distcp", "/_0_0.distcp"));
         return Built{it, md};
       }},
      {"dcp_missing_distcp", R::kTorchDist, Status::kNotFound, "missing", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp2");
         fs::remove(join_path(it, "__1_0.distcp"));
         return Built{it, join_path(it, "__1_0.distcp")};
       }},
      {"dcp_chunks_overlap", R::kTorchDist, F, "overlap", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp2");
         edit_metadata(it, [](pickle::Document& doc) {
           pickle::Node* c0 = attr(first_split_tensor(doc), "chunks")->items[0];
           Dims sizes = dims_of(attr(c0, "sizes"));
           int dim = dims_of(attr(first_split_tensor(doc), "size"))[0] != sizes[0] ? 0 : 1;
           sizes[dim] += 1;  // reaches into the next chunk
           set_attr(c0, "sizes", doc.size(sizes));
         });
         return Built{it, join_path(it, ".metadata")};
       }},
      {"dcp_chunks_leave_hole", R::kTorchDist, F, "missing", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp2");
         edit_metadata(it, [](pickle::Document& doc) {
           pickle::Node* c0 = attr(first_split_tensor(doc), "chunks")->items[0];
           Dims sizes = dims_of(attr(c0, "sizes"));
           int dim = dims_of(attr(first_split_tensor(doc), "size"))[0] != sizes[0] ? 0 : 1;
           sizes[dim] -= 1;
           set_attr(c0, "sizes", doc.size(sizes));
         });
         return Built{it, join_path(it, ".metadata")};
       }},
      {"dcp_chunk_outside_tensor", R::kTorchDist, F, "outside", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp2");
         edit_metadata(it, [](pickle::Document& doc) {
           pickle::Node* t = first_split_tensor(doc);
           Dims shape = dims_of(attr(t, "size"));
           shape[0] -= 1;
           set_attr(t, "size", doc.size(shape));
         });
         return Built{it, join_path(it, ".metadata")};
       }},
      {"dcp_global_shape_8TB", R::kTorchDist, F, "cannot fit", [](const std::string& d) {
         // the chunks still tile the (now huge) tensor: only their items' sizes give the lie away
         std::string it = mcore_copy(d, "tp2");
         edit_metadata(it, [](pickle::Document& doc) {
           pickle::Node* t = first_split_tensor(doc);
           Dims shape = dims_of(attr(t, "size"));
           int last = shape.size() - 1;
           shape[last] = int64_t(1) << 36;
           set_attr(t, "size", doc.size(shape));
           for (pickle::Node* c : attr(t, "chunks")->items) {
             Dims sizes = dims_of(attr(c, "sizes"));
             sizes[last] = shape[last];
             set_attr(c, "sizes", doc.size(sizes));
           }
         });
         return Built{it, join_path(it, ".metadata")};
       }},
      {"dcp_items_share_bytes", R::kTorchDist, F, "overlap", [](const std::string& d) {
         // two chunks pointing at one item: reading would silently duplicate weights
         std::string it = mcore_copy(d, "tp1");
         edit_metadata(it, [](pickle::Document& doc) {
           pickle::Node* storage = attr(doc.root, "storage_data");
           pickle::Node* a = storage->items[1];
           pickle::Node* b = storage->items[3];
           set_attr(b, "offset", doc.integer(pickle::as_int(attr(a, "offset"), "test", "offset")));
           set_attr(b, "length", doc.integer(pickle::as_int(attr(a, "length"), "test", "length")));
         });
         return Built{it, join_path(it, ".metadata")};
       }},
      {"dcp_metadata_truncated", R::kTorchDist, F, "pickle", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         std::string md = join_path(it, ".metadata");
         truncate_file(md, file_size(md) / 2);
         return Built{it, md};
       }},
      {"dcp_metadata_not_a_metadata_object", R::kTorchDist, F, "Metadata", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         mbtest::write_file(join_path(it, ".metadata"), kProto2 + "K\x01.");
         return Built{it, join_path(it, ".metadata")};
       }},
      {"dcp_metadata_json_garbage", R::kTorchDist, F, "JSON", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         mbtest::write_file(join_path(it, "metadata.json"), "{\"sharded_backend\": torch_dist");
         return Built{it, join_path(it, "metadata.json")};
       }},
      {"dcp_unsupported_backend", R::kTorchDist, Status::kUnsupported, "zarr", [](const std::string& d) {
         std::string it = mcore_copy(d, "tp1");
         mbtest::write_file(join_path(it, "metadata.json"), R"({"sharded_backend": "zarr"})");
         return Built{it, join_path(it, "metadata.json")};
       }},

      // ---- Megatron legacy and the tracker file ----
      {"legacy_missing_rank_folder", R::kMegatronLegacy, F, "mp_rank_00", [](const std::string& d) {
         std::string it = legacy_copy(d, "tp2");
         fs::remove_all(join_path(it, "mp_rank_00"));
         return Built{it, it};
       }},
      {"legacy_missing_pipeline_rank", R::kMegatronLegacy, F, "mp_rank_00_000", [](const std::string& d) {
         std::string it = legacy_copy(d, "pp2");
         fs::remove_all(join_path(it, "mp_rank_00_000"));
         return Built{it, it};
       }},
      {"legacy_rank_folder_without_file", R::kMegatronLegacy, Status::kNotFound, "model_optim_rng.pt",
       [](const std::string& d) {
         std::string it = legacy_copy(d, "tp2");
         fs::remove(join_path(it, "mp_rank_01/model_optim_rng.pt"));
         return Built{it, it};
       }},
      {"legacy_mixed_rank_naming", R::kMegatronLegacy, F, "naming", [](const std::string& d) {
         std::string it = legacy_copy(d, "tp2");
         fs::rename(join_path(it, "mp_rank_01"), join_path(it, "mp_rank_01_000"));
         return Built{it, it};
       }},
      {"legacy_rank_file_truncated", R::kMegatronLegacy, F, "zip", [](const std::string& d) {
         std::string it = legacy_copy(d, "tp2");
         std::string pt = join_path(it, "mp_rank_01/model_optim_rng.pt");
         truncate_file(pt, file_size(pt) - 100);
         return Built{it, pt};
       }},
      {"tracker_garbage", R::kMegatronLegacy, F, "iteration", [](const std::string& d) {
         legacy_copy(d, "tp1");
         std::string tracker = join_path(d, kTrackerFileName);
         mbtest::write_file(tracker, "ten\x01\x02\n");
         return Built{d, tracker};
       }},
      {"tracker_negative_iteration", R::kMegatronLegacy, F, "iteration", [](const std::string& d) {
         legacy_copy(d, "tp1");
         std::string tracker = join_path(d, kTrackerFileName);
         mbtest::write_file(tracker, "-10\n");
         return Built{d, tracker};
       }},
      {"tracker_points_nowhere", R::kTorchDist, F, "does not exist", [](const std::string& d) {
         mcore_copy(d, "tp1");
         std::string tracker = join_path(d, kTrackerFileName);
         mbtest::write_file(tracker, "99999999999\n");
         return Built{d, tracker};
       }},
  };
}

class HostileInput : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileInput, IsRefusedWithAnErrorNamingTheFile) {
  const HostileCase& c = GetParam();
  const std::string dir = mbtest::scratch_dir("files");
  Built built = c.build(dir);
  ASSERT_FALSE(::testing::Test::HasFailure()) << "building the case failed";
  const auto start = std::chrono::steady_clock::now();
  try {
    open_and_read(c.reader, built.open);
    ADD_FAILURE() << "no error was thrown";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.status()), static_cast<int>(c.status)) << e.what();
    EXPECT_NE(e.message().find(built.fault), std::string::npos)
        << "the message does not name " << built.fault << ": " << e.what();
    EXPECT_NE(e.message().find(c.reason), std::string::npos)
        << "the message does not say '" << c.reason << "': " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw " << typeid(e).name() << " instead of mb::Error: " << e.what();
  } catch (...) {
    ADD_FAILURE() << "threw something that is not a std::exception";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0) << "refusing the input took too long";
}

INSTANTIATE_TEST_SUITE_P(Table, HostileInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<HostileCase>& info) { return std::string(info.param.name); });

// The table above must keep covering what it promises: at least 24 rows, every reader.
TEST(HostileInputTable, CoversEveryReader) {
  std::vector<HostileCase> all = cases();
  EXPECT_GE(all.size(), 24u);
  for (Reader r : {Reader::kSafetensors, Reader::kSafetensorsFolder, Reader::kTorchSave, Reader::kTorchDist,
                   Reader::kMegatronLegacy, Reader::kHfConfig}) {
    bool found = false;
    for (const HostileCase& c : all) found = found || c.reader == r;
    EXPECT_TRUE(found) << "no case for reader " << static_cast<int>(r);
  }
}

// x = (x', x') 200 times over a tensor: 2^200 paths through 200 containers. Not an error (torch.load
// would build it), but the walk must be linear: each shared container is expanded once.
TEST(HostileInputTable, SharedContainersAreWalkedOnce) {
  const std::string dir = mbtest::scratch_dir("doubling");
  std::string p = tensor_pickle("0", 4, 0, {4}, {1});
  p.pop_back();  // STOP
  for (int i = 0; i < 200; ++i) p += "2\x86";
  std::string pt = join_path(dir, "doubling.pt");
  mbtest::write_file(pt, torch_archive(p + ".", {{"0", std::string(16, '\0')}}));
  const auto start = std::chrono::steady_clock::now();
  auto f = TorchSaveFile::open(pt);
  auto tensors = collect_tensors(f->root(), "", f->source());
  // the tensor keeps both of its names in the innermost tuple; every outer pair adds no more
  ASSERT_EQ(tensors.size(), 2u);
  std::string outer;  // the path through the first item at every outer level
  for (int i = 1; i < 200; ++i) outer += "0.";
  EXPECT_EQ(tensors[0].first, outer + "0");
  EXPECT_EQ(tensors[1].first, outer + "1");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

// 50000 one-column chunks of a [2, 50000] tensor (every chunk spans all of dimension 0): the tiling
// check must not compare all pairs, and must still find an overlap among them.
TEST(HostileInputTable, ChunkTilingOfManyColumnChunksIsFast) {
  const int64_t n = 50000;
  std::vector<std::pair<Dims, Dims>> chunks;
  for (int64_t i = 0; i < n; ++i) chunks.push_back({Dims{0, i}, Dims{2, 1}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NO_THROW(check_chunks_tile(Dims{2, n}, chunks, "'w'"));
  chunks[n / 2].first = Dims{0, n / 2 + 1};  // same volume: one column twice, one missing
  try {
    check_chunks_tile(Dims{2, n}, chunks, "'w'");
    ADD_FAILURE() << "overlap not found";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("overlap"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

// The originals of every fixture the table damages open cleanly: the rows fail for their damage alone.
TEST(HostileInputTable, UndamagedFixturesOpen) {
  for (const char* layout : {"tp1", "tp2"}) {
    EXPECT_NO_THROW(open_and_read(Reader::kTorchDist, mbtest::fixture(std::string("foundation/mcore/") + layout)));
  }
  for (const char* layout : {"tp1", "tp2", "pp2"}) {
    EXPECT_NO_THROW(open_and_read(Reader::kMegatronLegacy, mbtest::fixture(std::string("foundation/legacy/") + layout)));
  }
  EXPECT_NO_THROW(open_and_read(Reader::kSafetensors, mbtest::fixture("foundation/casts.safetensors")));
  EXPECT_NO_THROW(open_and_read(Reader::kSafetensorsFolder, mbtest::fixture(kTinyLlama)));
  EXPECT_NO_THROW(open_and_read(Reader::kTorchSave, mbtest::fixture("foundation/torch/values.pt")));
  EXPECT_NO_THROW(open_and_read(Reader::kHfConfig, mbtest::fixture(kTinyLlama)));
  // a DCP .metadata rewritten without changes still opens: the edits above are the only damage
  const std::string dir = mbtest::scratch_dir("roundtrip");
  std::string it = mcore_copy(dir, "tp2");
  edit_metadata(it, [](pickle::Document&) {});
  EXPECT_NO_THROW(open_and_read(Reader::kTorchDist, it));
  // and the hand-made pickles and archives are sound when not damaged
  std::string pt = join_path(dir, "ok.pt");
  mbtest::write_file(pt, torch_archive(tensor_pickle("0", 4, 0, {2, 2}, {2, 1}), {{"0", std::string(16, '\0')}}));
  EXPECT_NO_THROW(open_and_read(Reader::kTorchSave, pt));
}

}  // namespace
