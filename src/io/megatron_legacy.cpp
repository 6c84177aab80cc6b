#include "io/megatron_legacy.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/paths.h"
#include "io/megatron_tracker.h"

namespace mb {

namespace {
constexpr const char* kRankFile = "model_optim_rng.pt";
constexpr const char* kRankPrefix = "mp_rank_";

// Parses "mp_rank_TT[_PPP[_EEE]]" into up to three numbers.
bool parse_rank_dir(const std::string& name, std::vector<int>& parts) {
  if (name.rfind(kRankPrefix, 0) != 0) return false;
  parts.clear();
  size_t pos = std::char_traits<char>::length(kRankPrefix);
  while (pos <= name.size()) {
    size_t end = name.find('_', pos);
    if (end == std::string::npos) end = name.size();
    std::string piece = name.substr(pos, end - pos);
    if (piece.empty() || piece.size() > 6 || piece.find_first_not_of("0123456789") != std::string::npos) return false;
    parts.push_back(std::atoi(piece.c_str()));
    pos = end + 1;
    if (end == name.size()) break;
  }
  return !parts.empty() && parts.size() <= 3;
}

std::atomic<uint64_t> g_legacy_counter{0};
}  // namespace

bool MegatronLegacyCheckpoint::is_legacy_dir(const std::string& dir) {
  if (!is_directory(dir)) return false;
  std::vector<int> parts;
  for (const std::string& name : list_directory(dir))
    if (parse_rank_dir(name, parts) && is_regular_file(join_path(join_path(dir, name), kRankFile))) return true;
  return false;
}

std::shared_ptr<MegatronLegacyCheckpoint> MegatronLegacyCheckpoint::open(const std::string& path,
                                                                         const TorchLoadOptions& options) {
  IterationDir where = resolve_iteration_dir(path);
  auto ck = std::make_shared<MegatronLegacyCheckpoint>();
  ck->directory_ = where.directory;
  ck->iteration_ = where.iteration;
  struct Found {
    std::string name, file;
    std::vector<int> parts;
  };
  std::vector<Found> found;
  std::vector<int> parts;
  size_t width = 0;
  for (const std::string& name : list_directory(ck->directory_)) {
    if (!parse_rank_dir(name, parts)) continue;
    std::string file = join_path(join_path(ck->directory_, name), kRankFile);
    if (!is_regular_file(file)) fail(Status::kNotFound, ck->directory_, ": ", name, " has no ", kRankFile);
    if (width == 0) width = parts.size();
    if (parts.size() != width)
      fail_format(ck->directory_, "rank folders mix naming schemes (", name, ")");
    found.push_back({name, file, parts});
  }
  // "mp_rank_TT_NNN" holds a pipeline rank, except when the run had expert parallelism and no pipeline
  // parallelism: Megatron's get_checkpoint_name (megatron/training/checkpointing.py) then appends the
  // expert rank right after the tensor rank. Only the saved args tell the two apart.
  bool second_is_expert = false;
  std::shared_ptr<TorchSaveFile> first;  // opened here already: kept, not parsed twice
  if (width == 2) {
    first = TorchSaveFile::open(found[0].file, options);
    const pickle::Node* args = pickle::dict_get(first->root(), "args");
    auto size_of = [&](const char* key) -> int64_t {
      const pickle::Node* v = args ? pickle::object_attr(args, key) : nullptr;
      return v && v->kind == pickle::Kind::kInt ? pickle::as_int(v, found[0].file, key) : 1;
    };
    second_is_expert = size_of("expert_model_parallel_size") > 1 && size_of("pipeline_model_parallel_size") == 1;
  }
  const bool has_pp = width > 1 && !second_is_expert;
  const bool has_ep = width > 2 || second_is_expert;
  for (const Found& f : found) {
    LegacyRank r;
    r.tp = f.parts[0];
    r.pp = has_pp ? f.parts[1] : 0;
    r.ep = has_ep ? f.parts.back() : -1;
    r.dir_name = f.name;
    r.file = f.file;
    ck->ranks_.push_back(r);
  }
  if (ck->ranks_.empty())
    fail(Status::kNotFound, ck->directory_, ": no mp_rank_* folders; not a legacy Megatron checkpoint");
  std::set<std::tuple<int, int, int>> seen;
  for (const LegacyRank& r : ck->ranks_) {
    ck->tp_size_ = std::max(ck->tp_size_, r.tp + 1);
    ck->pp_size_ = std::max(ck->pp_size_, r.pp + 1);
    ck->ep_size_ = std::max(ck->ep_size_, r.ep + 1);
    seen.insert({r.tp, r.pp, r.ep});
  }
  // every rank of the grid must be there: a missing shard would silently drop weights
  for (int t = 0; t < ck->tp_size_; ++t)
    for (int p = 0; p < ck->pp_size_; ++p)
      for (int e = has_ep ? 0 : -1; e < (has_ep ? ck->ep_size_ : 0); ++e)
        if (!seen.count({t, p, e}))
          fail_format(ck->directory_, "rank folder ", legacy_rank_dir(t, p, e, has_pp, has_ep),
                      " is missing (tensor parallel ", ck->tp_size_, ", pipeline parallel ", ck->pp_size_, ")");
  std::sort(ck->ranks_.begin(), ck->ranks_.end(), [](const LegacyRank& a, const LegacyRank& b) {
    return std::tie(a.pp, a.ep, a.tp) < std::tie(b.pp, b.ep, b.tp);
  });
  for (const LegacyRank& r : ck->ranks_)
    ck->files_.push_back(first && r.file == found[0].file ? first : TorchSaveFile::open(r.file, options));
  return ck;
}

std::vector<std::pair<std::string, const pickle::Node*>> MegatronLegacyCheckpoint::models(size_t rank) const {
  const TorchSaveFile& f = *files_.at(rank);
  const pickle::Node* root = f.root();
  if (root->kind != pickle::Kind::kDict) fail_format(f.source(), "does not hold a dict");
  std::vector<std::pair<std::string, const pickle::Node*>> out;
  if (const pickle::Node* m = pickle::dict_get(root, "model")) {
    out.emplace_back("model", m);
  } else {
    for (int i = 0;; ++i) {
      const pickle::Node* m = pickle::dict_get(root, "model" + std::to_string(i));
      if (!m) break;
      out.emplace_back("model" + std::to_string(i), m);
    }
  }
  if (out.empty()) fail_format(f.source(), "has no \"model\" state dict");
  for (const auto& [name, m] : out)
    if (m->kind != pickle::Kind::kDict) fail_format(f.source(), "\"", name, "\" is not a dict");
  return out;
}

const pickle::Node* MegatronLegacyCheckpoint::args() const {
  return pickle::dict_get(files_.at(0)->root(), "args");
}

std::string legacy_rank_dir(int tp, int pp, int ep, bool pipeline_parallel, bool expert_parallel) {
  char buf[64];
  // as Megatron's get_checkpoint_name: the pipeline rank only with pipeline parallelism, the expert rank
  // appended only with expert parallelism
  if (!pipeline_parallel && !expert_parallel) std::snprintf(buf, sizeof(buf), "mp_rank_%02d", tp);
  else if (!expert_parallel) std::snprintf(buf, sizeof(buf), "mp_rank_%02d_%03d", tp, pp);
  else if (!pipeline_parallel) std::snprintf(buf, sizeof(buf), "mp_rank_%02d_%03d", tp, ep);
  else std::snprintf(buf, sizeof(buf), "mp_rank_%02d_%03d_%03d", tp, pp, ep);
  return buf;
}

// ---- writing -------------------------------------------------------------------------------------------

MegatronLegacyWriter::MegatronLegacyWriter(std::string root, std::optional<int64_t> iteration, int tp_size,
                                           int pp_size, int ep_size)
    : root_(std::move(root)), iteration_(iteration), tp_size_(tp_size), pp_size_(pp_size), ep_size_(ep_size) {
  if (tp_size < 1 || pp_size < 1 || ep_size < 1) fail(Status::kInvalidArgument, "parallel sizes must be >= 1");
  make_directories(root_);
  final_dir_ = join_path(root_, iteration_dir_name(iteration_));
  if (path_exists(final_dir_)) fail(Status::kInvalidArgument, final_dir_, ": already exists; refusing to overwrite it");
  temp_dir_ = cat(final_dir_, ".incomplete-", ::getpid(), "-", g_legacy_counter++);
  make_directories(temp_dir_);
  written_.assign(static_cast<size_t>(tp_size * pp_size * ep_size), false);
}

MegatronLegacyWriter::~MegatronLegacyWriter() {
  if (!finished_) remove_tree(temp_dir_);
}

std::string MegatronLegacyWriter::rank_file_path(int tp, int pp, int ep) {
  if (tp < 0 || tp >= tp_size_ || pp < 0 || pp >= pp_size_ || ep < 0 || ep >= ep_size_)
    fail(Status::kInvalidArgument, "rank (", tp, ", ", pp, ", ", ep, ") outside the parallel layout");
  std::string dir = join_path(temp_dir_, legacy_rank_dir(tp, pp, ep, pp_size_ > 1, ep_size_ > 1));
  make_directories(dir);
  return join_path(dir, kRankFile);
}

void MegatronLegacyWriter::mark_written(int tp, int pp, int ep) {
  written_[static_cast<size_t>((pp * ep_size_ + ep) * tp_size_ + tp)] = true;
}

void MegatronLegacyWriter::write_rank(int tp, int pp, int ep, TorchSaveWriter& writer, const pickle::Node* root) {
  std::string path = rank_file_path(tp, pp, ep);
  TorchSaveWriteOptions o;
  o.archive_name = "model_optim_rng";  // torch names the archive after the file it writes
  writer.write_file(path, root, o);
  mark_written(tp, pp, ep);
}

std::string MegatronLegacyWriter::finish() {
  for (size_t i = 0; i < written_.size(); ++i)
    if (!written_[i]) fail(Status::kInvalidArgument, "legacy checkpoint: rank ", i, " was never written");
  rename_path(temp_dir_, final_dir_);
  finished_ = true;
  write_tracker(root_, iteration_);
  return final_dir_;
}

pickle::Node* make_namespace(pickle::Document& doc, const std::vector<std::pair<std::string, pickle::Node*>>& attrs) {
  pickle::Node* state = doc.dict();
  for (const auto& [k, v] : attrs) doc.dict_set(state, doc.string(k), v);
  pickle::Node* ns = doc.object(doc.global("argparse", "Namespace"), doc.tuple(), state);
  ns->via_newobj = true;
  return ns;
}

}  // namespace mb
