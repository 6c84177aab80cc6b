// Bundles and tensor frames at the byte level: byte planes, one zstd chunk, tensor frames (every header byte
// damaged, every truncation), and bundles packed from a folder and unpacked bit for bit; damaged, truncated
// and hostile bundles (path traversal, overlapping frames, impossible sizes) refused with a message naming
// the file and tensor, leaving nothing behind.
#include <algorithm>
#include <cstring>
#include <functional>
#include <random>

#include <unistd.h>

#include "core/error.h"
#include "core/paths.h"
#include "io/bundle_format.h"
#include "io/bundle_pack.h"
#include "io/bundle_reader.h"
#include "io/bundle_unpack.h"
#include "io/byte_planes.h"
#include "io/crc32.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/tensor_frame.h"
#include "io/zstd_chunk.h"
#include "support/test_support.h"

using namespace mb;

namespace {

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// bf16 values of a narrow normal distribution, like weights: predictable high bytes, noisy low bytes.
Tensor weight_like(const Dims& shape, uint32_t seed) {
  Tensor f = Tensor::empty(DType::F32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  float* p = f.mutable_data_as<float>();
  for (int64_t i = 0; i < f.numel(); ++i) p[i] = normal(rng);
  return f.to(DType::BF16);
}

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

// Lays out a small model folder: a config, a safetensors file with bf16 and f32 tensors, an empty file, a
// nested folder and an empty one.
std::string make_tree(const std::string& root) {
  const std::string dir = join_path(root, "model");
  make_directories(join_path(dir, "sub/deeper"));
  make_directories(join_path(dir, "empty"));
  mbtest::write_file(join_path(dir, "config.json"), R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64})");
  mbtest::write_file(join_path(dir, "sub/deeper/notes.txt"), std::string(1000, 'x') + "end");
  mbtest::write_file(join_path(dir, "empty.bin"), "");
  Tensor w = weight_like({64, 48}, 1), n = Tensor::zeros(DType::F32, {48});
  SafetensorsWriter st(join_path(dir, "model.safetensors"),
                       {{"layer.weight", DType::BF16, {64, 48}}, {"layer.norm", DType::F32, {48}}}, {{"format", "pt"}});
  st.write("layer.weight", w);
  st.write("layer.norm", n);
  st.finish(false);
  return dir;
}

void expect_same_tree(const std::string& a, const std::string& b) {
  std::vector<std::string> na = list_directory(a), nb = list_directory(b);
  ASSERT_EQ(na, nb) << a << " vs " << b;
  for (const std::string& name : na) {
    const std::string pa = join_path(a, name), pb = join_path(b, name);
    ASSERT_EQ(is_directory(pa), is_directory(pb)) << pa;
    if (is_directory(pa)) expect_same_tree(pa, pb);
    else EXPECT_TRUE(mbtest::read_file(pa) == mbtest::read_file(pb)) << pa << " differs after unpacking";
  }
}

PackOptions small_chunks() {
  PackOptions o;
  o.chunk_bytes = 512;  // several chunks per tensor
  o.fsync = false;
  return o;
}

// Rewrites a bundle's index through `edit` and fixes the end record, as a hostile writer could.
std::string with_index(const std::string& bundle, const std::function<void(json::Value&)>& edit) {
  const uint8_t* end = reinterpret_cast<const uint8_t*>(bundle.data()) + bundle.size() - kBundleEndBytes;
  uint64_t offset = 0;
  for (int i = 7; i >= 0; --i) offset = (offset << 8) | end[i];
  json::Value index = json::parse(bundle.substr(offset, bundle.size() - kBundleEndBytes - offset), "index");
  edit(index);
  std::string text = json::dump(index);
  return bundle.substr(0, offset) + text + bundle_end_record(offset, text.size(), crc32_of(text.data(), text.size()));
}

std::string parse_error(const std::string& bytes) {
  return error_of([&] { Bundle::parse({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, nullptr, "hostile.mbz"); });
}

}  // namespace

// ---- byte planes -----------------------------------------------------------------------------------------

TEST(BytePlanes, Bf16SplitsIntoLowThenHighBytes) {
  // 1.0, -0.5, 3.140625 in bf16: 0x3F80, 0xBF00, 0x4049, stored little-endian
  const uint8_t elements[] = {0x80, 0x3F, 0x00, 0xBF, 0x49, 0x40};
  uint8_t planes[6], back[6];
  split_planes(elements, 6, 2, planes);
  const uint8_t expected[] = {0x80, 0x00, 0x49, 0x3F, 0xBF, 0x40};
  EXPECT_EQ(0, std::memcmp(planes, expected, 6));
  merge_planes(planes, 6, 2, back);
  EXPECT_EQ(0, std::memcmp(back, elements, 6));
}

TEST(BytePlanes, EveryWidthRoundTrips) {
  for (size_t width : {1, 2, 3, 4, 8}) {
    for (size_t n : {0, 1, 7, 15, 16, 33, 1000, 4101}) {
      std::vector<uint8_t> src = random_bytes(n * width, static_cast<uint32_t>(width * 131 + n));
      std::vector<uint8_t> planes(src.size()), back(src.size());
      split_planes(src.data(), src.size(), width, planes.data());
      if (n > 1 && width > 1) {
        EXPECT_EQ(planes[1], src[width]) << "plane 0 holds byte 0 of element 1 second";
        EXPECT_EQ(planes[n], src[1]) << "plane 1 starts with byte 1 of element 0";
      }
      merge_planes(planes.data(), planes.size(), width, back.data());
      EXPECT_EQ(src, back) << "width " << width << ", " << n << " elements";
    }
  }
  EXPECT_EQ(plane_width_for(2), 2u);
  EXPECT_EQ(plane_width_for(4), 4u);
  EXPECT_EQ(plane_width_for(8), 8u);
  EXPECT_EQ(plane_width_for(1), 1u);
  uint8_t buf[3];
  EXPECT_THROW(split_planes(buf, 3, 2, buf), Error);  // not whole elements
}

TEST(BytePlanes, MakeWeightsCompressBetter) {
  Tensor w = weight_like({256, 256}, 7);
  const auto* raw = static_cast<const uint8_t*>(w.data());
  size_t plain = compress_chunk(raw, w.nbytes(), 1, 3).size();
  size_t split = compress_chunk(raw, w.nbytes(), 2, 3).size();
  // measured: 75% with planes, 78% without (a Gaussian's mantissa bits are noise either way)
  EXPECT_LT(split, plain * 98 / 100) << "planes " << split << " vs plain " << plain;
  EXPECT_LT(split, w.nbytes() * 80 / 100);
}

// ---- one chunk -------------------------------------------------------------------------------------------

TEST(ZstdChunk, RoundTripAndDamage) {
  Tensor w = weight_like({40, 50}, 3);
  const auto* raw = static_cast<const uint8_t*>(w.data());
  const size_t n = w.nbytes();
  const uint32_t crc = crc32_of(raw, n);
  std::vector<uint8_t> frame = compress_chunk(raw, n, 2, 3);
  std::vector<uint8_t> out(n);
  decompress_chunk({frame.data(), frame.size()}, 2, out.data(), n, crc, "chunk");
  EXPECT_EQ(0, std::memcmp(out.data(), raw, n));

  EXPECT_NE(error_of([&] { decompress_chunk({frame.data(), frame.size()}, 2, out.data(), n, crc ^ 1, "w chunk 1"); })
                .find("w chunk 1: checksum mismatch"),
            std::string::npos);
  EXPECT_NE(error_of([&] { decompress_chunk({frame.data(), frame.size()}, 2, out.data(), n - 2, crc, "c"); })
                .find("bytes where"),
            std::string::npos);
  std::vector<uint8_t> longer = frame;
  longer.push_back(0);
  EXPECT_NE(error_of([&] { decompress_chunk({longer.data(), longer.size()}, 2, out.data(), n, crc, "c"); }).find("recorded"),
            std::string::npos);
  // a damaged byte is caught by zstd or by the checksum, unless it changes nothing (some bits of a zstd
  // frame are padding): never wrong bytes silently
  size_t caught = 0;
  for (size_t i = 0; i < frame.size(); ++i) {
    std::vector<uint8_t> bad = frame;
    bad[i] ^= 0x40;
    std::fill(out.begin(), out.end(), 0);
    try {
      decompress_chunk({bad.data(), bad.size()}, 2, out.data(), n, crc, "c");
      EXPECT_EQ(0, std::memcmp(out.data(), raw, n)) << "byte " << i << ": wrong bytes accepted";
    } catch (const Error&) {
      ++caught;
    }
  }
  EXPECT_GT(caught, frame.size() * 95 / 100);
}

// ---- tensor frames ---------------------------------------------------------------------------------------

TEST(TensorFrame, EveryDtypeAndShapeRoundTrips) {
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"model.layers.0.mlp.up_proj.weight", weight_like({33, 17}, 11)},
      {"norm", Tensor::from_bytes(DType::F32, {7}, random_bytes(28, 2).data(), 28)},
      {"counter", Tensor::from_bytes(DType::I64, {}, random_bytes(8, 3).data(), 8)},
      {"empty", Tensor::empty(DType::BF16, {0, 4})},
      {"bytes", Tensor::from_bytes(DType::U8, {5, 3}, random_bytes(15, 4).data(), 15)},
  };
  for (const auto& [name, t] : tensors) {
    TensorFrameOptions o;
    o.chunk_bytes = 64;  // many chunks, decoded on several threads
    o.threads = 3;
    std::vector<uint8_t> frame = encode_tensor_frame(name, t, o);
    TensorFrameInfo info = parse_tensor_frame({frame.data(), frame.size()});
    EXPECT_EQ(info.name, name);
    EXPECT_EQ(info.dtype, t.dtype());
    EXPECT_EQ(info.shape, t.shape());
    EXPECT_EQ(info.nbytes, t.nbytes());
    EXPECT_EQ(info.chunks.size(), (t.nbytes() + 63) / 64) << name;
    Tensor back = Tensor::empty(t.dtype(), t.shape());
    decode_tensor_frame({frame.data(), frame.size()}, t.numel() ? back.mutable_data() : nullptr, back.nbytes(), 2);
    EXPECT_TRUE(mbtest::BitwiseEqual(back, t)) << name;
    EXPECT_THROW(decode_tensor_frame({frame.data(), frame.size()}, nullptr, t.nbytes() + 1), Error);
  }
}

TEST(TensorFrame, DamageAndTruncationAreRefused) {
  TensorFrameOptions o;
  o.chunk_bytes = 256;
  Tensor t = weight_like({20, 30}, 5);
  std::vector<uint8_t> frame = encode_tensor_frame("w", t, o);
  std::vector<uint8_t> out(t.nbytes());
  const size_t header = frame.size() - [&] {
    size_t payload = 0;
    for (const auto& c : parse_tensor_frame({frame.data(), frame.size()}).chunks) payload += c.frame_length;
    return payload;
  }();
  // every header byte is covered by the magic, the version or the header checksum; a damaged chunk byte is
  // caught by zstd or the chunk's checksum unless it changes nothing (zstd padding bits)
  for (size_t i = 0; i < frame.size(); ++i) {
    std::vector<uint8_t> bad = frame;
    bad[i] ^= 0x10;
    if (i < header) {
      EXPECT_THROW(parse_tensor_frame({bad.data(), bad.size()}), Error) << "header byte " << i;
      continue;
    }
    std::fill(out.begin(), out.end(), 0);
    try {
      decode_tensor_frame({bad.data(), bad.size()}, out.data(), out.size());
      EXPECT_EQ(0, std::memcmp(out.data(), t.data(), out.size())) << "byte " << i << ": wrong bytes accepted";
    } catch (const Error&) {
    }
  }
  for (size_t n = 0; n < frame.size(); ++n)
    EXPECT_THROW(parse_tensor_frame({frame.data(), n}), Error) << "truncated to " << n;
  std::string message = error_of([&] { parse_tensor_frame({frame.data(), frame.size() - 1}); });
  EXPECT_NE(message.find("tensor frame 'w'"), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  std::vector<uint8_t> longer = frame;
  longer.push_back(0);
  EXPECT_THROW(parse_tensor_frame({longer.data(), longer.size()}), Error);
}

// ---- bundles: pack and unpack ------------------------------------------------------------------------------

TEST(Bundle, PackUnpackIsBitExactAndListsTensors) {
  const std::string work = mbtest::scratch_dir("bundle");
  const std::string src = make_tree(work);
  PackOptions o = small_chunks();
  o.threads = 3;
  PackReport r = pack_bundle(src, join_path(work, "m.mbz"), o);
  EXPECT_EQ(r.files, 4u);
  EXPECT_EQ(r.directories, 3u);  // empty, sub, sub/deeper
  EXPECT_EQ(r.tensors, 2u);
  EXPECT_EQ(r.tensor_bytes, 64u * 48 * 2 + 48 * 4);
  EXPECT_LT(r.bytes_out, r.bytes_in);

  auto bundle = Bundle::open(join_path(work, "m.mbz"));
  const BundleFile* st = bundle->find("model.safetensors");
  ASSERT_NE(st, nullptr);
  ASSERT_EQ(st->segments.size(), 3u);  // header, then the tensors in file order (f32 first, as the library lays out)
  EXPECT_FALSE(st->segments[0].is_tensor());
  EXPECT_EQ(st->segments[1].tensor, "layer.norm");
  EXPECT_EQ(st->segments[1].plane_width, 4u);
  EXPECT_EQ(st->segments[2].tensor, "layer.weight");
  EXPECT_EQ(st->segments[2].plane_width, 2u);
  EXPECT_EQ(st->segments[2].dtype, "BF16");
  EXPECT_GT(st->segments[2].chunk_count, 5u);
  ASSERT_NE(bundle->find("empty.bin"), nullptr);
  EXPECT_EQ(bundle->find("empty.bin")->size, 0u);
  EXPECT_EQ(bundle->index().kind, "files");

  UnpackOptions uo;
  uo.fsync = false;
  UnpackReport u = unpack_bundle(join_path(work, "m.mbz"), join_path(work, "out/model"), uo);
  EXPECT_EQ(u.files, 4u);
  EXPECT_EQ(u.bytes, r.bytes_in);
  expect_same_tree(src, join_path(work, "out/model"));
  EXPECT_EQ(verify_bundle(join_path(work, "m.mbz")).files, 4u);

  // nothing is overwritten
  EXPECT_NE(error_of([&] { unpack_bundle(join_path(work, "m.mbz"), join_path(work, "out/model"), uo); }).find("already exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] { pack_bundle(src, join_path(work, "m.mbz"), o); }).find("already exists"), std::string::npos);
}

TEST(Bundle, DamagedBundleIsRefusedNamingFileAndTensorAndLeavesNothing) {
  const std::string work = mbtest::scratch_dir("damaged");
  const std::string src = make_tree(work);
  const std::string good = join_path(work, "m.mbz");
  pack_bundle(src, good, small_chunks());
  std::string bytes = mbtest::read_file(good);
  auto bundle = Bundle::open(good);
  const BundleFile* st = bundle->find("model.safetensors");
  const BundleChunk& chunk = st->chunks[st->segments[2].first_chunk + 2];  // inside layer.weight

  std::string damaged = bytes;
  damaged[chunk.frame_offset + chunk.frame_length / 2] ^= 0x5A;
  mbtest::write_file(join_path(work, "damaged.mbz"), damaged);
  std::string message = error_of([&] { unpack_bundle(join_path(work, "damaged.mbz"), join_path(work, "out")); });
  EXPECT_NE(message.find("damaged.mbz: file 'model.safetensors', tensor 'layer.weight' (chunk 3 of"), std::string::npos)
      << message;
  EXPECT_FALSE(path_exists(join_path(work, "out")));
  for (const std::string& name : list_directory(work)) EXPECT_EQ(name.find(".incomplete"), std::string::npos) << name;
  EXPECT_THROW(verify_bundle(join_path(work, "damaged.mbz")), Error);

  // a bundle cut short, or with a damaged index, does not even open
  for (size_t keep : {bytes.size() - 1, bytes.size() - kBundleEndBytes, bytes.size() / 2, size_t(20), size_t(3)}) {
    std::string msg = parse_error(bytes.substr(0, keep));
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("not an mbridge bundle") != std::string::npos)
        << keep << ": " << msg;
  }
  std::string bad_index = bytes;
  bad_index[bundle->index().index_offset + 10] ^= 1;
  EXPECT_NE(parse_error(bad_index).find("index checksum mismatch"), std::string::npos);
  std::string newer = bytes;
  newer[8] = 2;
  EXPECT_NE(parse_error(newer).find("bundle version 2"), std::string::npos);
}

TEST(Bundle, HostileIndexesAreRefused) {
  const std::string work = mbtest::scratch_dir("hostile");
  const std::string src = make_tree(work);
  pack_bundle(src, join_path(work, "m.mbz"), small_chunks());
  const std::string bytes = mbtest::read_file(join_path(work, "m.mbz"));
  ASSERT_EQ(parse_error(bytes), "(no error)");

  auto file = [](json::Value& index, const std::string& path) -> json::Value& {
    for (json::Value& f : index.find("files")->items())
      if (f.find("path")->as_string() == path) return f;
    throw std::runtime_error("no " + path);
  };
  auto first_chunk = [&](json::Value& index, const std::string& path) -> json::Value& {
    return file(index, path).find("segments")->items()[0].find("chunks")->items()[0];
  };
  struct Case {
    const char* what;
    std::function<void(json::Value&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"parent escape", [&](json::Value& i) { file(i, "config.json").set("path", "../evil.json"); }, "escapes its directory"},
      {"absolute path", [&](json::Value& i) { file(i, "config.json").set("path", "/etc/evil"); }, "absolute path"},
      {"dot component", [&](json::Value& i) { file(i, "config.json").set("path", "sub/./x"); }, "'.' component"},
      {"backslash", [&](json::Value& i) { file(i, "config.json").set("path", "a\\b"); }, "backslash"},
      {"directory escape", [&](json::Value& i) { i.find("directories")->push("sub/../../x"); }, "escapes its directory"},
      {"file inside a file", [&](json::Value& i) { file(i, "empty.bin").set("path", "config.json/x"); }, "is a file but"},
      {"same path twice", [&](json::Value& i) { file(i, "empty.bin").set("path", "config.json"); }, "listed twice"},
      {"file and directory", [&](json::Value& i) { file(i, "empty.bin").set("path", "sub"); }, "both as a file and"},
      {"size disagrees", [&](json::Value& i) { file(i, "config.json").set("size", 5); }, "segments run past"},
      {"overlapping frames",
       [&](json::Value& i) {
         json::Value& a = first_chunk(i, "config.json");
         json::Value& b = first_chunk(i, "sub/deeper/notes.txt");
         b.items()[0] = a.items()[0];
       },
       "two chunks share bytes"},
      {"frame outside", [&](json::Value& i) { first_chunk(i, "config.json").items()[0] = json::Value(int64_t{1} << 40); }, "lies outside"},
      {"chunk too large", [&](json::Value& i) { first_chunk(i, "config.json").items()[2] = json::Value(int64_t{1} << 30); }, "not an integer in"},
      {"odd planes", [&](json::Value& i) { file(i, "config.json").find("segments")->items()[0].set("planes", 3); }, "byte planes"},
      {"negative size", [&](json::Value& i) { file(i, "config.json").set("size", -1); }, "not an integer"},
      {"unknown kind", [&](json::Value& i) { i.set("kind", "other"); }, "kind 'other'"},
      {"not a bundle index", [&](json::Value& i) { i.set("format", "zip"); }, "mbridge-bundle"},
  };
  for (const Case& c : cases) {
    std::string hostile = with_index(bytes, c.edit);
    std::string message = parse_error(hostile);
    EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ": " << message;
    mbtest::write_file(join_path(work, "hostile.mbz"), hostile);
    EXPECT_THROW(unpack_bundle(join_path(work, "hostile.mbz"), join_path(work, "out")), Error) << c.what;
    EXPECT_FALSE(path_exists(join_path(work, "out"))) << c.what;
    EXPECT_FALSE(path_exists(join_path(work, "evil.json"))) << c.what;
  }
}

TEST(Bundle, SymlinkedFilesArePackedAsFilesAndSymlinkedFoldersRefused) {
  const std::string work = mbtest::scratch_dir("symlinks");
  const std::string src = make_tree(work);
  ASSERT_EQ(0, ::symlink("config.json", join_path(src, "linked.json").c_str()));
  pack_bundle(src, join_path(work, "m.mbz"), small_chunks());
  UnpackOptions uo;
  uo.fsync = false;
  unpack_bundle(join_path(work, "m.mbz"), join_path(work, "out"), uo);
  EXPECT_TRUE(is_regular_file(join_path(work, "out/linked.json")));
  EXPECT_EQ(mbtest::read_file(join_path(work, "out/linked.json")), mbtest::read_file(join_path(src, "config.json")));
  ASSERT_EQ(0, ::symlink("sub", join_path(src, "linked_dir").c_str()));
  EXPECT_NE(error_of([&] { pack_bundle(src, join_path(work, "m2.mbz"), small_chunks()); }).find("a symlinked folder"),
            std::string::npos);
  EXPECT_FALSE(path_exists(join_path(work, "m2.mbz")));
}
