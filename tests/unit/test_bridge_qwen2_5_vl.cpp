// Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration, the tiny model transformers wrote in
// tests/fixtures/vlm/qwen2_5_vl) as Megatron-Bridge's Qwen25VLModel names it: a Qwen2 GPTModel under
// "language_model." with its multimodal rotary sections, transformers' vision tower whole under "visual.*" on
// every tensor-parallel rank of the first pipeline stage; the in-memory spelling of the names read too; what is
// refused.
#include <set>

#include "bridge/convert.h"
#include "bridge/hf_mapping.h"
#include "bridge/megatron_names.h"
#include "bridge/model_config.h"
#include "bridge/param_source.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/safetensors_sharded.h"
#include "support/test_support.h"

using namespace mb;
using namespace mb::bridge;

namespace {

std::string fixture_dir() { return mbtest::fixture("vlm/qwen2_5_vl"); }

ModelConfig fixture_config() { return model_config_from_hf(load_hf_config(fixture_dir())); }

}  // namespace

TEST(BridgeQwen25Vl, ConfigAndEveryTensorOfTheTransformersFile) {
  const ModelConfig c = fixture_config();
  EXPECT_EQ(c.family, "qwen2_5_vl");
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_query_groups, 2);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_EQ(c.mrope_section, (std::vector<int64_t>{2, 1, 1}));
  EXPECT_EQ(c.rope_scaling.type, "default");
  EXPECT_EQ(c.image_token_index, 251);
  EXPECT_TRUE(c.multimodal());
  // the tower: patch embedding, 4 blocks of 12 tensors, the merger's norm and two linear layers with biases
  ASSERT_EQ(c.verbatim.size(), 1u + 4 * 12 + 5);
  EXPECT_EQ(c.verbatim.front().name, "visual.patch_embed.proj.weight");
  EXPECT_EQ(c.verbatim.front().shape, (Dims{32, 3, 2, 14, 14}));
  EXPECT_EQ(c.verbatim.back().name, "visual.merger.mlp.2.bias");
  // every tensor transformers wrote is a parameter's, with the shape the config implies
  auto folder = SafetensorsFolder::open(fixture_dir());
  std::set<std::string> names(folder->names().begin(), folder->names().end()), mapped;
  auto in_file = [&](const std::string& n) {  // the Hub's spelling, or the in-memory one transformers may save
    for (const std::string& candidate : {n, n.compare(0, 7, "visual.") == 0 ? "model." + n : n,
                                         n.compare(0, 6, "model.") == 0 ? "model.language_model." + n.substr(6) : n})
      if (folder->find(candidate).file) return candidate;
    return std::string();
  };
  for (const HfTensorSpec& s : hf_tensor_specs(*find_family("qwen2_5_vl"), c)) {
    const std::string name = in_file(s.name);
    ASSERT_FALSE(name.empty()) << s.name;
    mapped.insert(name);
    EXPECT_EQ(folder->find(name).entry->shape, s.shape) << s.name;
  }
  EXPECT_EQ(mapped, names);
}

TEST(BridgeQwen25Vl, MegatronNamesAreMegatronBridges) {
  const ModelConfig c = fixture_config();
  const ParamKey qkv{ParamKind::kQkv, 0}, tower{ParamKind::kVerbatim, 3};
  EXPECT_EQ(dist_name(c, qkv, MegatronSpec::kTransformerEngine).key, "language_model.decoder.layers.self_attention.linear_qkv.weight");
  EXPECT_EQ(dist_name(c, ParamKey{ParamKind::kEmbedding}, MegatronSpec::kLocal).key,
            "language_model.embedding.word_embeddings.weight");
  EXPECT_EQ(dist_name(c, tower, MegatronSpec::kLocal).key, c.verbatim[3].name);
  EXPECT_FALSE(dist_name(c, tower, MegatronSpec::kLocal).layer_axis);
  EXPECT_EQ(legacy_param_key(c, ParamKind::kVerbatim, 3, 3, -1, MegatronSpec::kLocal), c.verbatim[3].name);
  EXPECT_EQ(tp_split(ParamKind::kVerbatim), TpSplit::kReplicated);
  EXPECT_TRUE(on_first_stage(ParamKind::kVerbatim));
  const json::Value tc = megatron_transformer_config(c);
  EXPECT_EQ(tc.find("position_embedding_type")->as_string(), "mrope");
  EXPECT_EQ(tc.find("mrope_section")->size(), 3u);
  EXPECT_EQ(tc.find("vision_config")->find("depth")->as_int(), 4);
}

TEST(BridgeQwen25Vl, TheConfigWrittenBackIsTheOneRead) {
  const ModelConfig c = fixture_config();
  const json::Value written = find_family("qwen2_5_vl")->hf_config_for(c);
  EXPECT_EQ(json::dump(written), json::dump(load_hf_config(fixture_dir()).raw));
  ModelConfig synthesised = c;
  synthesised.hf_config = json::Value();
  EXPECT_THROW(find_family("qwen2_5_vl")->hf_config_for(synthesised), Error);
}

TEST(BridgeQwen25Vl, UnsupportedVariantsSayWhy) {
  const std::string base = mbtest::read_file(fixture_dir() + "/config.json");
  auto refused = [&](const std::string& from, const std::string& to, const std::string& needle) {
    std::string text = base;
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    try {
      model_config_from_hf(parse_hf_config(json::parse(text, "edited config.json"), "edited config.json"));
      ADD_FAILURE() << "accepted with " << to;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // (the vision tower's hidden_act: the one just before its in_channels)
  refused("\"hidden_act\": \"silu\",\n    \"hidden_size\": 32,\n    \"in_channels\"",
          "\"hidden_act\": \"gelu\",\n    \"hidden_size\": 32,\n    \"in_channels\"", "hidden_act");
  refused("\"mrope_section\"", "\"mrope_sections\"", "mrope_section");
  refused("\"out_hidden_size\": 32", "\"out_hidden_size\": 16", "out_hidden_size");
}
