// Writes, with mbridge's writers, copies of the foundation fixtures for the real tools to read back on
// the GPU machine (interop_foundation.py): torch.save files re-pickled by us (values, views, every
// dtype, whole legacy Megatron rank files with args, optimizer and numpy rng state), and torch_dist
// checkpoints re-chunked by us.  usage: interop_write_samples FIXTURES_DIR OUT_DIR
#include <cstdio>

#include "core/paths.h"
#include "io/megatron_legacy.h"
#include "io/megatron_tracker.h"
#include "io/torch_dist.h"
#include "io/torch_save.h"
#include "support/test_support.h"

using namespace mb;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s FIXTURES_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string fx = join_path(argv[1], "foundation");
  const std::string out = argv[2];
  try {
    make_directories(out);
    for (const char* name : {"values", "views", "dtypes"}) {
      auto src = TorchSaveFile::open(join_path(fx, std::string("torch/") + name + ".pt"));
      TorchSaveWriter w;
      pickle::Node* root = w.import(*src, src->root());
      w.write_file(join_path(out, std::string(name) + ".pt"), root);
    }
    for (const char* layout : {"tp1", "tp2", "pp2"}) {
      auto src = TorchDistCheckpoint::open(join_path(fx, std::string("mcore/") + layout));
      mbtest::rewrite_torch_dist(*src, join_path(out, std::string("dist_") + layout), 2, 2, false);
    }
    auto tp1 = TorchDistCheckpoint::open(join_path(fx, "mcore/tp1"));
    mbtest::rewrite_torch_dist(*tp1, join_path(out, "dist_tp1_common_pt"), 3, 3, true);

    auto legacy = MegatronLegacyCheckpoint::open(join_path(fx, "legacy/tp2"));
    MegatronLegacyWriter lw(join_path(out, "legacy_tp2"), legacy->iteration(), legacy->tp_size(), legacy->pp_size());
    for (size_t i = 0; i < legacy->ranks().size(); ++i) {
      TorchSaveWriter w;
      pickle::Node* root = w.import(legacy->rank_file(i), legacy->rank_file(i).root());
      lw.write_rank(legacy->ranks()[i].tp, legacy->ranks()[i].pp, 0, w, root);
    }
    lw.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interop_write_samples: %s\n", e.what());
    return 1;
  }
  std::printf("wrote samples to %s\n", out.c_str());
  return 0;
}
