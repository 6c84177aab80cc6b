#include "io/bundle_pack.h"

#include <zlib.h>

#include <memory>
#include <vector>

#include "core/byte_sink.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/paths.h"
#include "core/threads.h"
#include "io/bundle_format.h"
#include "io/bundle_layout.h"
#include "io/byte_planes.h"
#include "io/crc32.h"

namespace mb {

namespace {

// The segments of one file: tensor regions as they are, the bytes between them as "other bytes".
std::vector<BundleSegment> segments_of(const PackFile& f) {
  std::vector<BundleSegment> out;
  uint64_t at = 0;
  auto other = [&](uint64_t end) {
    if (end > at) {
      BundleSegment s;
      s.offset = at;
      s.length = end - at;
      out.push_back(s);
    }
  };
  for (const TensorRegion& r : f.tensors) {
    other(r.offset);
    BundleSegment s;
    s.offset = r.offset;
    s.length = r.length;
    s.plane_width = plane_width_for(r.element_size);
    if (s.length % s.plane_width != 0) s.plane_width = 1;
    s.tensor = r.name.empty() ? "(unnamed)" : r.name;
    s.dtype = r.dtype;
    out.push_back(s);
    at = r.offset + r.length;
  }
  other(f.size);
  return out;
}

// One chunk to compress: where its bytes are, and what came out.
struct Job {
  size_t file;
  size_t chunk;  // in that file's BundleFile::chunks
  const uint8_t* raw = nullptr;
  std::vector<uint8_t> frame;
};

}  // namespace

PackReport pack_bundle(const std::string& source_dir, const std::string& out_path, const PackOptions& options) {
  check_zstd_level(options.level);
  check_zstd_level(options.tensor_level);
  if (options.chunk_bytes < 8 || options.chunk_bytes > kMaxChunkBytes)
    fail(Status::kInvalidArgument, "chunk size ", options.chunk_bytes, " is out of range (8 bytes to ", kMaxChunkBytes, ")");
  if (options.kind != "hf" && options.kind != "megatron" && options.kind != "files")
    fail(Status::kInvalidArgument, "bundle kind '", options.kind, "' (hf, megatron or files)");
  if (path_exists(out_path)) fail(Status::kInvalidArgument, out_path, ": already exists; refusing to overwrite it");

  PackTree tree = scan_pack_tree(source_dir);
  BundleIndex index;
  index.kind = options.kind;
  index.created_by = options.created_by;
  index.chunk_bytes = options.chunk_bytes;
  index.level = options.level;
  index.tensor_level = options.tensor_level;
  index.directories = tree.directories;
  PackReport report;
  report.directories = tree.directories.size();
  for (const PackFile& pf : tree.files) {
    BundleFile f;
    f.path = pf.path;
    check_bundle_path(f.path, source_dir);
    f.size = pf.size;
    f.segments = segments_of(pf);
    for (uint32_t s = 0; s < f.segments.size(); ++s) {
      BundleSegment& seg = f.segments[s];
      const uint64_t step = std::max<uint64_t>(seg.plane_width, options.chunk_bytes / seg.plane_width * seg.plane_width);
      seg.first_chunk = static_cast<uint32_t>(f.chunks.size());
      for (uint64_t at = 0; at < seg.length; at += step) {
        BundleChunk c;
        c.raw_offset = seg.offset + at;
        c.raw_length = std::min(step, seg.length - at);
        c.segment = s;
        f.chunks.push_back(c);
      }
      seg.chunk_count = static_cast<uint32_t>(f.chunks.size()) - seg.first_chunk;
      if (seg.is_tensor()) {
        ++report.tensors;
        report.tensor_bytes += seg.length;
      }
    }
    report.bytes_in += f.size;
    index.files.push_back(std::move(f));
  }

  OutputFile out(out_path);
  out.write_string(bundle_preamble());
  Progress progress(options.progress, "pack", report.bytes_in);
  const size_t threads = options.threads ? options.threads : default_thread_count();
  const size_t batch = threads * 4;  // chunks in flight: bounds memory at about 2 x batch x chunk size
  for (size_t fi = 0; fi < index.files.size(); ++fi) {
    BundleFile& f = index.files[fi];
    ++report.files;
    if (f.size == 0) continue;
    auto source = MappedFile::open(tree.files[fi].source);
    if (source->size() != f.size)
      fail(Status::kIo, tree.files[fi].source, ": changed size while being packed (", f.size, " -> ", source->size(), " bytes)");
    uint32_t crc = 0;
    std::vector<Job> jobs;
    for (size_t start = 0; start < f.chunks.size(); start += batch) {
      const size_t n = std::min(batch, f.chunks.size() - start);
      jobs.assign(n, Job{});
      parallel_for(n, threads, [&](size_t i) {
        BundleChunk& c = f.chunks[start + i];
        const uint8_t* raw = source->data() + c.raw_offset;
        const BundleSegment& s = f.segments[c.segment];
        jobs[i].frame = compress_chunk(raw, static_cast<size_t>(c.raw_length), s.plane_width,
                                       s.is_tensor() ? options.tensor_level : options.level);
        c.crc32 = crc32_of(raw, static_cast<size_t>(c.raw_length));
      });
      for (size_t i = 0; i < n; ++i) {
        BundleChunk& c = f.chunks[start + i];
        crc = static_cast<uint32_t>(crc32_combine(crc, c.crc32, static_cast<z_off_t>(c.raw_length)));
        c.frame_offset = out.position();
        c.frame_length = jobs[i].frame.size();
        out.write(jobs[i].frame.data(), jobs[i].frame.size());
        progress.advance(c.raw_length);
      }
    }
    f.crc32 = crc;
    source->drop_pages();
  }
  progress.finish();
  index.index_offset = out.position();
  const std::string text = bundle_index_json(index);
  out.write_string(text);
  out.write_string(bundle_end_record(index.index_offset, text.size(), crc32_of(text.data(), text.size())));
  report.bytes_out = out.position();
  out.commit(options.fsync);
  return report;
}

}  // namespace mb
