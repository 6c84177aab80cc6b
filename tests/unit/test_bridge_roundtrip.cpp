// Hugging Face -> Megatron -> Hugging Face, bit for bit, for every family (tiny models transformers wrote on
// the GPU machine, tests/fixtures/bridge/hf) in both Megatron formats and across tensor, pipeline, virtual
// pipeline and expert parallelism; and Megatron -> Megatron resharding.
#include "bridge/convert.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "io/safetensors_sharded.h"
#include "io/tensor_files.h"
#include "support/test_support.h"

using namespace mb;
using namespace mb::bridge;

namespace {

struct Case {
  std::string family_dir;
  Format format;
  int tp, pp, vpp, ep;
  MegatronSpec spec;
  std::string root = "bridge/hf";  // the fixture folder's parent
};

std::string name_of(const Case& c) {
  return cat(c.family_dir, "_", c.format == Format::kTorchDist ? "dist" : "legacy", "_tp", c.tp, "_pp", c.pp,
             c.vpp > 1 ? cat("_vpp", c.vpp) : "", c.ep > 1 ? cat("_ep", c.ep) : "", c.spec == MegatronSpec::kLocal ? "_local" : "");
}

void PrintTo(const Case& c, std::ostream* os) { *os << name_of(c); }

// Every model folder in tests/fixtures/bridge/hf is a case, so a new family's fixture is tested by being there.
std::vector<Case> cases() {
  std::vector<Case> out;
  const std::string root = mbtest::fixture("bridge/hf");
  for (Format f : {Format::kTorchDist, Format::kMegatronLegacy}) {
    for (const std::string& dir : list_directory(root)) {
      if (!is_directory(join_path(root, dir))) continue;
      const HfConfig h = load_hf_config(join_path(root, dir));
      if (h.num_experts > 0 || h.integer("n_routed_experts").value_or(0) > 0) {
        out.push_back({dir, f, 1, 1, 1, 1, MegatronSpec::kTransformerEngine});
        out.push_back({dir, f, 2, 2, 1, 2, MegatronSpec::kTransformerEngine});
        out.push_back({dir, f, 1, 1, 1, 2, MegatronSpec::kLocal});
      } else {
        out.push_back({dir, f, 1, 1, 1, 1, MegatronSpec::kTransformerEngine});
        out.push_back({dir, f, 2, 2, 1, 1, MegatronSpec::kTransformerEngine});
      }
    }
    out.push_back({"llama31", f, 4, 1, 1, 1, MegatronSpec::kLocal});
    out.push_back({"qwen3", f, 4, 2, 1, 1, MegatronSpec::kLocal});
    out.push_back({"llama32", f, 1, 2, 2, 1, MegatronSpec::kTransformerEngine});  // tied, virtual pipeline
    // dense and MoE layers mixed: layers named one by one; the local spec splits MLA's down projections
    out.push_back({"deepseek_v3", f, 2, 1, 1, 1, MegatronSpec::kLocal});
    out.push_back({"deepseek_v3", f, 1, 2, 2, 2, MegatronSpec::kTransformerEngine});
    // LLaVA (converted, not yet generated from: its fixture waits in families/hf for the engines)
    out.push_back({"llava", f, 1, 1, 1, 1, MegatronSpec::kTransformerEngine, "families/hf"});
    out.push_back({"llava", f, 2, 2, 1, 1, MegatronSpec::kTransformerEngine, "families/hf"});
    out.push_back({"llava", f, 2, 1, 1, 1, MegatronSpec::kLocal, "families/hf"});
    out.push_back({"qwen2_5_vl", f, 1, 1, 1, 1, MegatronSpec::kTransformerEngine, "vlm"});
    out.push_back({"qwen2_5_vl", f, 2, 2, 1, 1, MegatronSpec::kTransformerEngine, "vlm"});
    out.push_back({"qwen2_5_vl", f, 2, 1, 1, 1, MegatronSpec::kLocal, "vlm"});
  }
  return out;
}

class Roundtrip : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(Roundtrip, BitExact) {
  const Case& c = GetParam();
  MegatronTarget t;
  t.format = c.format;
  t.layout.tp = c.tp;
  t.layout.pp = c.pp;
  t.layout.vpp = c.vpp;
  t.layout.ep = c.ep;
  t.layout.spec = c.spec;
  t.fsync = false;
  std::string work = mbtest::scratch_dir(name_of(c));
  const std::string src = mbtest::fixture(c.root + "/" + c.family_dir);
  RoundtripResult r = roundtrip(src, work, t, {});
  ASSERT_FALSE(r.rows.empty());
  for (const RoundtripRow& row : r.rows) EXPECT_TRUE(row.matches) << row.name << " " << row.dtype << row.shape;
  // the exported folder is a complete Hugging Face model: config.json byte-identical, assets carried along
  EXPECT_EQ(mbtest::read_file(join_path(r.hf_dir, "config.json")), mbtest::read_file(join_path(src, "config.json")));
  EXPECT_EQ(is_regular_file(join_path(r.hf_dir, "generation_config.json")),
            is_regular_file(join_path(src, "generation_config.json")));  // (BERT has none)
  if (c.family_dir == "llama31") {
    EXPECT_EQ(mbtest::read_file(join_path(r.hf_dir, "tokenizer.json")), mbtest::read_file(join_path(src, "tokenizer.json")));
  }
}

INSTANTIATE_TEST_SUITE_P(Families, Roundtrip, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return name_of(info.param); });
