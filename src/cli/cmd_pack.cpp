// mbridge pack / unpack: a model folder or Megatron checkpoint as one losslessly compressed bundle (.mbz)
// and back, bit for bit. Every command that opens a model also opens a bundle of it in place.
#include <chrono>
#include <cstdio>

#include "bridge/param_source.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/bundle_pack.h"
#include "io/bundle_reader.h"
#include "io/bundle_unpack.h"
#include "io/json.h"
#include "mbridge.h"

namespace mb::cli {

namespace {

const char* kPackHelp = R"(usage: mbridge pack (--hf-model DIR | --megatron-path DIR | --dir DIR) --output FILE.mbz [options]
  Every file of the folder (weights, config.json, tokenizer files, index, Megatron's iter_ folders, .distcp,
  .metadata, .pt, tracker...) in one bundle: tensor data split into byte planes and compressed with zstd,
  other bytes compressed as they are. `mbridge unpack` gives the files back bit for bit; every command that
  opens a model (export, generate, config, compare, the C API's mb_bridge_open) reads the bundle in place.
  --hf-model DIR       a Hugging Face model folder (config.json and safetensors weights)
  --megatron-path DIR  a Megatron checkpoint (the root with latest_checkpointed_iteration.txt, or an iter_ folder)
  --dir DIR            any folder (packed as files; no model check)
  --output FILE        the bundle to write (must not exist)
  --level N            zstd level of other bytes (headers, JSON, pickles), 1..22 (default 3)
  --tensor-level N     zstd level of tensor data, 1..22 (default 1: on byte planes of weights it compresses
                       better than 3, and faster; docs/performance.md)
  --chunk-size SIZE    bytes per independently compressed chunk, e.g. 4MiB (default; at most 64MiB)
  --threads N          compression threads (default: every core)
  --no-progress        no progress bar
  --json               print the result as one JSON object
)";

const char* kUnpackHelp = R"(usage: mbridge unpack FILE.mbz --output DIR [--threads N] [--no-progress] [--json]
       mbridge unpack FILE.mbz --list [--json]
  Writes every file of the bundle into DIR (which must not exist), bit for bit, checking every chunk's and
  every file's CRC-32; DIR appears only when all of it is written. --list shows what the bundle holds.
)";

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

int list_bundle(const std::string& path, bool as_json) {
  auto bundle = Bundle::open(path);
  const BundleIndex& index = bundle->index();
  json::Value files = json::Value::array();
  uint64_t total = 0;
  for (const BundleFile& f : index.files) {
    uint64_t packed = 0;
    for (const BundleChunk& c : f.chunks) packed += c.frame_length;
    size_t tensors = 0;
    for (const BundleSegment& s : f.segments) tensors += s.is_tensor();
    total += f.size;
    if (as_json) {
      json::Value v = json::Value::object();
      v.set("path", f.path);
      v.set("bytes", f.size);
      v.set("packed_bytes", packed);
      v.set("tensors", static_cast<uint64_t>(tensors));
      files.push(std::move(v));
    } else {
      std::printf("%12llu %12llu %6zu  %s\n", static_cast<unsigned long long>(f.size),
                  static_cast<unsigned long long>(packed), tensors, f.path.c_str());
    }
  }
  if (as_json) {
    json::Value out = json::Value::object();
    out.set("bundle", path);
    out.set("kind", index.kind);
    out.set("created_by", index.created_by);
    out.set("level", index.level);
    out.set("tensor_level", index.tensor_level);
    out.set("chunk_bytes", index.chunk_bytes);
    out.set("bytes", total);
    out.set("bundle_bytes", index.bundle_size);
    out.set("directories", static_cast<uint64_t>(index.directories.size()));
    out.set("files", std::move(files));
    std::printf("%s\n", json::dump(out).c_str());
  } else {
    std::printf("%zu files, %llu bytes in %llu (%s bundle, zstd level %d, tensors %d)\n", index.files.size(),
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(index.bundle_size),
                index.kind.c_str(), index.level, index.tensor_level);
  }
  return 0;
}

}  // namespace

int run_pack(int argc, char** argv) {
  Args args(argc, argv, 2, {"hf-model", "megatron-path", "dir", "output", "level", "tensor-level", "chunk-size", "threads"},
            {"no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs(kPackHelp, stdout);
    return 0;
  }
  auto hf = args.get("hf-model"), megatron = args.get("megatron-path"), dir = args.get("dir");
  if ((hf ? 1 : 0) + (megatron ? 1 : 0) + (dir ? 1 : 0) != 1)
    fail(Status::kInvalidArgument, "give exactly one of --hf-model, --megatron-path and --dir");
  auto output = args.get("output");
  if (!output) fail(Status::kInvalidArgument, "--output FILE.mbz is required");
  PackOptions o;
  std::string source;
  if (hf) {
    source = *hf;
    if (!bridge::is_hf_folder(source))
      fail(Status::kNotFound, source, ": not a Hugging Face model folder (config.json and safetensors weights); --dir packs any folder");
    o.kind = "hf";
  } else if (megatron) {
    source = *megatron;
    if (!bridge::is_megatron_checkpoint(source))
      fail(Status::kNotFound, source, ": not a Megatron checkpoint (torch_dist or mp_rank_*); --dir packs any folder");
    o.kind = "megatron";
  } else {
    source = *dir;
    o.kind = "files";
  }
  o.level = static_cast<int>(args.get_int("level", o.level));
  o.tensor_level = static_cast<int>(args.get_int("tensor-level", o.tensor_level));
  o.chunk_bytes = args.get_size("chunk-size", o.chunk_bytes);
  const int64_t threads = args.get_int("threads", 0);
  if (threads < 0) fail(Status::kInvalidArgument, "--threads must not be negative");
  o.threads = static_cast<size_t>(threads);
  o.progress = progress_bar(!args.has("no-progress"));
  o.created_by = std::string("mbridge ") + MB_VERSION_STRING;
  auto start = std::chrono::steady_clock::now();
  PackReport r = pack_bundle(source, *output, o);
  const double s = seconds_since(start);
  const double ratio = r.bytes_out ? static_cast<double>(r.bytes_in) / static_cast<double>(r.bytes_out) : 0.0;
  if (args.has("json")) {
    json::Value v = json::Value::object();
    v.set("output", *output);
    v.set("kind", o.kind);
    v.set("files", static_cast<uint64_t>(r.files));
    v.set("directories", static_cast<uint64_t>(r.directories));
    v.set("tensors", static_cast<uint64_t>(r.tensors));
    v.set("bytes", r.bytes_in);
    v.set("tensor_bytes", r.tensor_bytes);
    v.set("bundle_bytes", r.bytes_out);
    v.set("ratio", ratio);
    v.set("seconds", s);
    std::printf("%s\n", json::dump(v).c_str());
  } else {
    std::printf("packed %zu files (%zu tensors), %llu bytes into %llu (ratio %.3f) in %.2f s: %s\n", r.files, r.tensors,
                static_cast<unsigned long long>(r.bytes_in), static_cast<unsigned long long>(r.bytes_out), ratio, s,
                output->c_str());
  }
  return 0;
}

int run_unpack(int argc, char** argv) {
  Args args(argc, argv, 2, {"output", "threads"}, {"list", "no-progress", "json", "help"});
  if (args.has("help")) {
    std::fputs(kUnpackHelp, stdout);
    return 0;
  }
  const std::string& bundle = args.positional(0, "FILE.mbz");
  if (args.has("list")) return list_bundle(bundle, args.has("json"));
  auto output = args.get("output");
  if (!output) fail(Status::kInvalidArgument, "--output DIR is required (or --list)");
  UnpackOptions o;
  const int64_t threads = args.get_int("threads", 0);
  if (threads < 0) fail(Status::kInvalidArgument, "--threads must not be negative");
  o.threads = static_cast<size_t>(threads);
  o.progress = progress_bar(!args.has("no-progress"));
  auto start = std::chrono::steady_clock::now();
  UnpackReport r = unpack_bundle(bundle, *output, o);
  const double s = seconds_since(start);
  if (args.has("json")) {
    json::Value v = json::Value::object();
    v.set("output", *output);
    v.set("files", static_cast<uint64_t>(r.files));
    v.set("directories", static_cast<uint64_t>(r.directories));
    v.set("bytes", r.bytes);
    v.set("seconds", s);
    std::printf("%s\n", json::dump(v).c_str());
  } else {
    std::printf("unpacked %zu files, %llu bytes in %.2f s: %s\n", r.files, static_cast<unsigned long long>(r.bytes), s,
                output->c_str());
  }
  return 0;
}

}  // namespace mb::cli
