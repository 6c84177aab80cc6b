#include "bridge/convert.h"

#include <unistd.h>

#include <atomic>
#include <map>
#include <tuple>

#include "bridge/hf_mapping.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/safetensors_sharded.h"

namespace mb::bridge {

namespace {

// The embedding or output layer (or its bias) with `rows` rows: padding rows (zeros) added or removed.
Tensor with_vocab_rows(const Tensor& t, int64_t vocab, int64_t rows) {
  if (t.size(0) == rows) return t;
  if (rows < vocab) fail(Status::kInternal, "vocabulary rows below the vocabulary size");
  if (t.size(0) > rows) return t.narrow(0, 0, rows);
  Dims shape = t.shape();
  shape[0] = rows;
  Tensor padded = Tensor::zeros(t.dtype(), shape);
  padded.narrow(0, 0, t.size(0)).copy_from(t);
  return padded;
}

CheckpointMeta meta_for(const ParamSource& src, const ParallelLayout& layout) {
  CheckpointMeta m;
  m.family = src.config().family;
  m.hf_config_text = src.hf_config_text();
  m.layout = layout;
  m.vocab_size = src.config().vocab_size;
  return m;
}

std::atomic<uint64_t> g_tmp_counter{0};

}  // namespace

void stream_params(const ParamSource& src, int64_t target_vocab_rows,
                   const std::function<void(const ParamInfo&, const Tensor&)>& sink, const ProgressFn& progress,
                   const std::string& stage,
                   const std::function<void(const ParamInfo&, const std::vector<Tensor>&)>& blocks_sink) {
  const ModelConfig& c = src.config();
  std::vector<ParamInfo> target = model_params(c, target_vocab_rows);
  const std::vector<ParamInfo>& source = src.params();
  if (target.size() != source.size()) fail(Status::kInternal, "source and target disagree on the parameters");
  uint64_t total = 0;
  for (const ParamInfo& p : source) {
    uint64_t n = 0;
    checked_nbytes(p.shape, dtype_size(src.dtype(p)), &n);
    total += n;
  }
  Progress bar(progress, stage, total);
  for (size_t i = 0; i < source.size(); ++i) {
    const bool vocab = is_vocab(source[i].key.kind);
    const bool as_blocks = blocks_sink && !vocab;
    std::vector<Tensor> blocks = as_blocks ? src.read_row_blocks(source[i]) : std::vector<Tensor>{src.read(source[i])};
    if (i + 1 < source.size()) src.prefetch(source[i + 1]);
    if (vocab) blocks[0] = with_vocab_rows(blocks[0], c.vocab_size, target[i].shape[0]);
    if (as_blocks) blocks_sink(target[i], blocks);
    else sink(target[i], blocks[0]);
    for (const Tensor& b : blocks) bar.advance(b.nbytes());
    blocks.clear();  // before the pages behind them are dropped
    src.drop_pages();
  }
  src.finish();
  bar.finish();
}

namespace {
// Any source into a Megatron checkpoint at megatron_root: what import and reshard both do.
std::string write_megatron(const ParamSource& src, const std::string& megatron_root, const MegatronTarget& target,
                           const ProgressFn& progress, const std::string& stage) {
  const int64_t rows = padded_vocab(src.config(), target.layout);
  MegatronWriter writer(megatron_root, src.config(), rows, target, meta_for(src, target.layout), src.assets());
  stream_params(
      src, rows, [&](const ParamInfo& p, const Tensor& t) { writer.write(p, t); }, progress, stage,
      [&](const ParamInfo& p, const std::vector<Tensor>& blocks) { writer.write_blocks(p, blocks); });
  return writer.finish();
}
}  // namespace

std::string import_checkpoint(const std::string& hf_dir, const std::string& megatron_root, const ImportOptions& o) {
  return write_megatron(*open_hf_source(hf_dir, o.source), megatron_root, o.target, o.progress, "import");
}

std::vector<std::string> export_checkpoint(const std::string& megatron_path, const std::string& hf_dir,
                                           const ExportOptions& o) {
  auto src = open_param_source(megatron_path, o.source);
  const ModelConfig& c = src->config();
  HfWriter writer(hf_dir, src->family(), c, c.vocab_size, [&](const ParamInfo& p) { return src->dtype(p); }, o.target,
                  src->hf_config_text(), src->assets());
  stream_params(*src, src->vocab_rows(), [&](const ParamInfo& p, const Tensor& t) { writer.write(p, t); }, o.progress,
                "export");
  return writer.finish();
}

std::string reshard_checkpoint(const std::string& megatron_path, const std::string& megatron_root,
                               const ReshardOptions& o) {
  return write_megatron(*open_param_source(megatron_path, o.source), megatron_root, o.target, o.progress, "reshard");
}

bool RoundtripResult::all_match() const {
  for (const RoundtripRow& r : rows)
    if (!r.matches) return false;
  return !rows.empty();
}

RoundtripResult roundtrip(const std::string& hf_dir, const std::string& work_dir, const MegatronTarget& target,
                          const ProgressFn& progress) {
  const bool temporary = work_dir.empty();
  std::string base = temporary ? cat("/tmp/mbridge-roundtrip-", ::getpid(), "-", g_tmp_counter++) : work_dir;
  if (temporary) make_directories(base);
  RoundtripResult result;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      if (!dir.empty()) remove_tree(dir);
    }
  } cleanup{temporary ? base : ""};
  result.megatron_dir = join_path(base, "megatron");
  result.hf_dir = join_path(base, "hf");
  ImportOptions io;
  io.target = target;
  io.progress = progress;
  import_checkpoint(hf_dir, result.megatron_dir, io);
  ExportOptions eo;
  eo.progress = progress;
  export_checkpoint(result.megatron_dir, result.hf_dir, eo);

  auto original = SafetensorsFolder::open(hf_dir);
  auto back = SafetensorsFolder::open(result.hf_dir);
  for (const std::string& name : original->names()) {
    RoundtripRow row;
    row.name = name;
    auto a = original->find(name);
    row.shape = a.entry->shape.to_string();
    row.dtype = dtype_name(a.entry->dtype);
    auto b = back->find(name);
    row.matches = b.file && bitwise_equal(a.file->tensor(*a.entry), b.file->tensor(*b.entry));
    result.rows.push_back(std::move(row));
  }
  for (const std::string& name : back->names())
    if (!original->find(name).file) result.rows.push_back({name, "", "", false});
  if (temporary) {
    result.megatron_dir.clear();
    result.hf_dir.clear();
  }
  return result;
}

std::vector<VerifyRow> verify_models(const ParamSource& a, const ParamSource& b) {
  std::vector<VerifyRow> rows;
  const ModelConfig& ca = a.config();
  const ModelConfig& cb = b.config();
  if (ca.vocab_size != cb.vocab_size)
    fail(Status::kInvalidArgument, "the models have different vocabularies (", ca.vocab_size, " and ", cb.vocab_size, ")");
  auto id = [](const ParamKey& k) { return std::make_tuple(static_cast<int>(k.kind), k.layer, k.expert); };
  std::map<std::tuple<int, int, int>, const ParamInfo*> in_b, in_a;
  for (const ParamInfo& x : b.params()) in_b[id(x.key)] = &x;
  for (const ParamInfo& x : a.params()) in_a[id(x.key)] = &x;
  for (const ParamInfo& p : a.params()) {
    VerifyRow row;
    row.param = describe(p.key);
    auto found = in_b.find(id(p.key));
    const ParamInfo* q = found == in_b.end() ? nullptr : found->second;
    Tensor ta = a.read(p);
    if (is_vocab(p.key.kind)) ta = ta.narrow(0, 0, ca.vocab_size).contiguous();
    row.a = ta.describe();
    if (!q) {
      row.note = "absent from the second model";
      rows.push_back(std::move(row));
      continue;
    }
    Tensor tb = b.read(*q);
    if (is_vocab(q->key.kind)) tb = tb.narrow(0, 0, cb.vocab_size).contiguous();
    row.b = tb.describe();
    if (ta.shape() != tb.shape()) {
      row.note = "shapes differ";
    } else if (ta.dtype() == tb.dtype()) {
      row.equal = bitwise_equal(ta, tb);
      if (!row.equal) row.note = "values differ";
    } else {
      row.equal = bitwise_equal(ta.to(DType::F64), tb.to(DType::F64));
      row.note = row.equal ? "values equal, dtypes differ" : "values differ";
    }
    rows.push_back(std::move(row));
  }
  for (const ParamInfo& q : b.params())
    if (!in_a.count(id(q.key))) rows.push_back({describe(q.key), "", "", false, "absent from the first model"});
  return rows;
}

}  // namespace mb::bridge
