// LLaVA (LlavaForConditionalGeneration, the tiny model transformers wrote in tests/fixtures/families/hf/llava:
// a CLIP tower of 3 layers whose features are the second-to-last hidden state, a projector, a Llama) as
// Megatron-Core's LLaVAModel names it: the tower built up to its feature layer, the rest carried beside the
// checkpoint; the Hub's other spelling of the tower's names; what is refused.
#include <map>
#include <set>

#include "bridge/checkpoint_meta.h"
#include "bridge/convert.h"
#include "bridge/hf_mapping.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "io/safetensors_sharded.h"
#include "io/torch_dist.h"
#include "support/test_support.h"

using namespace mb;
using namespace mb::bridge;

namespace {

std::string fixture_dir() { return mbtest::fixture("families/hf/llava"); }

ModelConfig fixture_config() { return model_config_from_hf(load_hf_config(fixture_dir())); }

}  // namespace

TEST(BridgeLlava, ConfigTakesTheTowerUpToItsFeatureLayer) {
  const ModelConfig c = fixture_config();
  EXPECT_EQ(c.family, "llava");
  EXPECT_EQ(c.num_layers, 4);  // the language model's
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_query_groups, 4);
  ASSERT_TRUE(c.vision);
  EXPECT_EQ(c.vision_hf_layers, 3);
  EXPECT_EQ(c.vision->num_layers, 2);  // vision_feature_layer -2: the output of layer 1 of 0..2
  EXPECT_EQ(c.vision->hidden_size, 32);
  EXPECT_EQ(c.vision->num_attention_heads, 4);
  EXPECT_EQ(c.vision->kv_channels, 8);
  EXPECT_EQ(c.vision->mlp_activation, "quick_gelu");
  EXPECT_EQ(c.image_tokens(), 16);  // (32 / 8)^2 patches
  EXPECT_EQ(c.image_token_index, 255);
  // carried: layer 2's 16 tensors and the tower's post_layernorm
  ASSERT_EQ(c.carried.size(), 18u);
  EXPECT_EQ(c.carried.front().name, "vision_tower.encoder.layers.2.layer_norm1.weight");
  EXPECT_EQ(c.carried.back().name, "vision_tower.post_layernorm.bias");
  // every tensor of the Hugging Face file is a parameter's, or carried
  auto folder = SafetensorsFolder::open(fixture_dir());
  std::set<std::string> names(folder->names().begin(), folder->names().end()), mapped;
  for (const HfTensorSpec& s : hf_tensor_specs(*find_family("llava"), c)) {
    mapped.insert(s.name);
    auto r = folder->find(s.name);
    ASSERT_NE(r.file, nullptr) << s.name;
    EXPECT_EQ(r.entry->shape, s.shape) << s.name;
  }
  EXPECT_EQ(mapped, names);
  // the config.json mbridge writes for it reads back the same
  const ModelConfig back = model_config_from_hf(parse_hf_config(find_family("llava")->hf_config_for(c), "written"));
  EXPECT_EQ(back.vision->num_layers, 2);
  EXPECT_EQ(back.vision_hf_layers, 3);
  EXPECT_EQ(back.image_token_index, 255);
  EXPECT_EQ(back.carried.size(), c.carried.size());
  EXPECT_EQ(back.num_query_groups, 4);
  EXPECT_EQ(back.projector_bias, true);
}

TEST(BridgeLlava, MegatronNamesAreLlavaModels) {
  const std::string work = mbtest::scratch_dir("llava_names");
  ImportOptions o;
  o.target.layout.tp = 2;
  o.target.fsync = false;
  const std::string dir = import_checkpoint(fixture_dir(), join_path(work, "mg"), o);
  auto ck = TorchDistCheckpoint::open(dir);
  std::map<std::string, Dims> keys;
  for (const DistTensor& t : ck->tensors()) keys[t.key] = t.shape;
  const std::map<std::string, Dims> want = {
      {"vision_model.conv1.weight", {32, 3, 8, 8}},
      {"vision_model.class_token", {1, 1, 32}},
      {"vision_model.position_embeddings.weight", {17, 32}},
      {"vision_model.ln_pre.weight", {32}},
      {"vision_model.ln_pre.bias", {32}},
      {"vision_model.decoder.layers.self_attention.linear_qkv.layer_norm_weight", {2, 32}},
      {"vision_model.decoder.layers.self_attention.linear_qkv.layer_norm_bias", {2, 32}},
      {"vision_model.decoder.layers.self_attention.linear_qkv.weight", {2, 96, 32}},
      {"vision_model.decoder.layers.self_attention.linear_qkv.bias", {2, 96}},
      {"vision_model.decoder.layers.self_attention.linear_proj.weight", {2, 32, 32}},
      {"vision_model.decoder.layers.self_attention.linear_proj.bias", {2, 32}},
      {"vision_model.decoder.layers.mlp.linear_fc1.layer_norm_weight", {2, 32}},
      {"vision_model.decoder.layers.mlp.linear_fc1.layer_norm_bias", {2, 32}},
      {"vision_model.decoder.layers.mlp.linear_fc1.weight", {2, 64, 32}},
      {"vision_model.decoder.layers.mlp.linear_fc1.bias", {2, 64}},
      {"vision_model.decoder.layers.mlp.linear_fc2.weight", {2, 32, 64}},
      {"vision_model.decoder.layers.mlp.linear_fc2.bias", {2, 32}},
      {"vision_projection.encoder.linear_fc1.weight", {32, 32}},
      {"vision_projection.encoder.linear_fc1.bias", {32}},
      {"vision_projection.encoder.linear_fc2.weight", {32, 32}},
      {"vision_projection.encoder.linear_fc2.bias", {32}},
      {"language_model.embedding.word_embeddings.weight", {256, 32}},
      {"language_model.decoder.layers.self_attention.linear_qkv.layer_norm_weight", {4, 32}},
      {"language_model.decoder.layers.self_attention.linear_qkv.weight", {4, 64, 32}},
      {"language_model.decoder.layers.self_attention.linear_proj.weight", {4, 32, 32}},
      {"language_model.decoder.layers.mlp.linear_fc1.layer_norm_weight", {4, 32}},
      {"language_model.decoder.layers.mlp.linear_fc1.weight", {4, 128, 32}},
      {"language_model.decoder.layers.mlp.linear_fc2.weight", {4, 32, 64}},
      {"language_model.decoder.final_layernorm.weight", {32}},
      {"language_model.output_layer.weight", {256, 32}},
  };
  EXPECT_EQ(keys, want);
  // q, k, v interleaved per head in the tower (every head its own group): head 1's q rows follow head 0's v
  const Tensor qkv = ck->read("vision_model.decoder.layers.self_attention.linear_qkv.weight");
  auto hf = SafetensorsFolder::open(fixture_dir());
  const Tensor q = hf->tensor("vision_tower.encoder.layers.0.self_attn.q_proj.weight");
  const Tensor v = hf->tensor("vision_tower.encoder.layers.0.self_attn.v_proj.weight");
  EXPECT_TRUE(bitwise_equal(qkv.narrow(0, 0, 1).reshape({96, 32}).narrow(0, 24, 8).contiguous(), q.narrow(0, 8, 8).contiguous()));
  EXPECT_TRUE(bitwise_equal(qkv.narrow(0, 0, 1).reshape({96, 32}).narrow(0, 16, 8).contiguous(), v.narrow(0, 0, 8).contiguous()));
  // the extra state Megatron-Core's modules expect, tower and projector included
  for (const char* key : {"vision_model.decoder.layers.self_attention.linear_qkv._extra_state/shard_1_2",
                          "vision_model.decoder.layers.self_attention.core_attention._extra_state/shard_0_2",
                          "vision_projection.encoder.linear_fc2._extra_state/shard_0_1",
                          "language_model.decoder.layers.mlp.linear_fc1._extra_state/shard_3_4"})
    EXPECT_NE(ck->find_bytes(key), nullptr) << key;
  // the tensors LLaVAModel does not build, beside the checkpoint as the Hugging Face file had them
  auto carried = SafetensorsFile::open(join_path(join_path(join_path(work, "mg"), kHfAssetsDir), kCarriedFileName));
  ASSERT_EQ(carried->entries().size(), 18u);
  for (const SafetensorsEntry& e : carried->entries())
    EXPECT_TRUE(bitwise_equal(carried->tensor(e), hf->tensor(e.name))) << e.name;
}

TEST(BridgeLlava, TheHubsSpellingOfTheTowerImports) {
  // the same model with the tower's tensors named as on the Hub ("vision_tower.vision_model.")
  const std::string work = mbtest::scratch_dir("llava_hub_names");
  const std::string hub = join_path(work, "hub");
  make_directories(hub);
  write_file_atomic(join_path(hub, "config.json"), mbtest::read_file(join_path(fixture_dir(), "config.json")));
  auto src = SafetensorsFile::open(join_path(fixture_dir(), "model.safetensors"));
  auto renamed = [](std::string n) {
    if (n.rfind("vision_tower.", 0) == 0) n.insert(13, "vision_model.");
    return n;
  };
  std::vector<SafetensorsSpec> specs;
  for (const SafetensorsEntry& e : src->entries()) specs.push_back({renamed(e.name), e.dtype, e.shape});
  SafetensorsWriter w(join_path(hub, "model.safetensors"), specs, {});
  for (const SafetensorsEntry& e : src->entries()) w.write(renamed(e.name), src->tensor(e));
  w.finish(false);
  MegatronTarget t;
  t.fsync = false;
  RoundtripResult r = roundtrip(hub, join_path(work, "rt"), t, {});
  // exported with transformers 5's names (so the round trip's by-name comparison differs), every tensor equal
  // to the original's
  auto out = SafetensorsFolder::open(r.hf_dir);
  for (const SafetensorsEntry& e : src->entries()) {
    auto found = out->find(e.name);
    ASSERT_NE(found.file, nullptr) << e.name;
    EXPECT_TRUE(bitwise_equal(found.file->tensor(*found.entry), src->tensor(e))) << e.name;
  }
}

TEST(BridgeLlava, UnsupportedVariantsSayWhy) {
  const std::string text = mbtest::read_file(join_path(fixture_dir(), "config.json"));
  auto refused = [&](const std::string& from, const std::string& to, const std::string& needle) {
    std::string changed = text;
    const size_t at = changed.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    changed.replace(at, from.size(), to);
    try {
      model_config_from_hf(parse_hf_config(json::parse(changed, "test"), "test config.json"));
      ADD_FAILURE() << "accepted " << to;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused("\"vision_feature_layer\": -2", "\"vision_feature_layer\": [-2, -1]", "list");
  refused("\"vision_feature_select_strategy\": \"default\"", "\"vision_feature_select_strategy\": \"full\"", "full");
  refused("\"model_type\": \"clip_vision_model\"", "\"model_type\": \"siglip_vision_model\"", "siglip");
  refused("\"vision_feature_layer\": -2", "\"vision_feature_layer\": -5", "vision_feature_layer");
  refused("\"image_token_index\": 255", "\"image_token_index\": 256", "image_token_index");
  refused("\"hidden_act\": \"quick_gelu\"", "\"hidden_act\": \"relu\"", "relu");
}

