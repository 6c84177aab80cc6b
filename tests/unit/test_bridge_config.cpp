// Family detection and the Hugging Face config -> Megatron TransformerConfig mapping, checked against the
// config.json files transformers wrote for the fixtures (tests/fixtures/bridge/hf) and the values the
// generator script asked transformers for.
#include "bridge/model_config.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "support/test_support.h"

#include <set>

using namespace mb;
using namespace mb::bridge;

namespace {

struct FixtureFamily {
  const char* dir;
  const char* family;
};
const FixtureFamily kFixtures[] = {
    {"llama2", "llama"},   {"llama31", "llama"}, {"llama32", "llama"},     {"mistral", "mistral"}, {"mixtral", "mixtral"},
    {"qwen2", "qwen2"},    {"qwen3", "qwen3"},   {"qwen3_moe", "qwen3_moe"}, {"minicpm", "minicpm"},
    {"gemma", "gemma"},
};

std::string config_path(const char* dir) { return mbtest::fixture(std::string("bridge/hf/") + dir + "/config.json"); }

json::Value transformer_config_of(const char* dir) {
  return megatron_transformer_config(model_config_from_hf(load_hf_config(config_path(dir))));
}

HfConfig config_from_text(const std::string& text) { return parse_hf_config(json::parse(text, "test config.json"), "test config.json"); }

}  // namespace

TEST(BridgeConfig, EveryFixtureIsDetectedAsItsFamily) {
  for (const FixtureFamily& f : kFixtures) {
    Detection d = detect_family(load_hf_config(config_path(f.dir)));
    ASSERT_NE(d.family, nullptr) << f.dir << ": " << d.reason;
    EXPECT_EQ(d.family->name, f.family) << f.dir;
  }
  // and a fixture added for a new family is at least recognised
  const std::string root = mbtest::fixture("bridge/hf");
  for (const std::string& dir : list_directory(root)) {
    if (!is_directory(join_path(root, dir))) continue;
    Detection d = detect_family(load_hf_config(join_path(root, dir)));
    EXPECT_NE(d.family, nullptr) << dir << ": " << d.reason;
  }
}

TEST(BridgeConfig, SharedFieldsFollowConfigJson) {
  for (const FixtureFamily& f : kFixtures) {
    SCOPED_TRACE(f.dir);
    json::Value hf = json::parse_file(config_path(f.dir));
    json::Value tc = transformer_config_of(f.dir);
    EXPECT_EQ(tc.find("num_layers")->as_int(), hf.find("num_hidden_layers")->as_int());
    EXPECT_EQ(tc.find("hidden_size")->as_int(), hf.find("hidden_size")->as_int());
    EXPECT_EQ(tc.find("num_attention_heads")->as_int(), hf.find("num_attention_heads")->as_int());
    EXPECT_EQ(tc.find("num_query_groups")->as_int(), hf.find("num_key_value_heads")->as_int());
    EXPECT_EQ(tc.find("kv_channels")->as_int(), hf.find("head_dim")->as_int());
    EXPECT_EQ(tc.find("vocab_size")->as_int(), hf.find("vocab_size")->as_int());
    EXPECT_EQ(tc.find("layernorm_epsilon")->as_number(), hf.find("rms_norm_eps")->as_number());
    EXPECT_EQ(tc.find("share_embeddings_and_output_weights")->as_bool(), hf.find("tie_word_embeddings")->as_bool());
    EXPECT_EQ(tc.find("rotary_base")->as_number(), hf.find("rope_parameters")->find("rope_theta")->as_number());
    EXPECT_EQ(tc.find("params_dtype")->as_string(), hf.find("dtype")->as_string());
  }
}

TEST(BridgeConfig, FamilySpecificFields) {
  EXPECT_TRUE(transformer_config_of("qwen2").find("add_qkv_bias")->as_bool());
  EXPECT_FALSE(transformer_config_of("llama2").find("add_qkv_bias")->as_bool());

  json::Value qwen3 = transformer_config_of("qwen3");
  EXPECT_TRUE(qwen3.find("qk_layernorm")->as_bool());
  EXPECT_EQ(qwen3.find("kv_channels")->as_int(), 8);  // head_dim 8 while hidden / heads is 4

  json::Value llama31 = transformer_config_of("llama31");
  EXPECT_TRUE(llama31.find("rope_scaling")->as_bool());
  EXPECT_EQ(llama31.find("rope_scaling_factor")->as_number(), 8.0);
  EXPECT_EQ(llama31.find("rope_scaling_hf")->find("original_max_position_embeddings")->as_int(), 32);
  EXPECT_TRUE(transformer_config_of("llama32").find("share_embeddings_and_output_weights")->as_bool());

  json::Value mixtral = transformer_config_of("mixtral");
  EXPECT_EQ(mixtral.find("num_moe_experts")->as_int(), 4);
  EXPECT_EQ(mixtral.find("moe_router_topk")->as_int(), 2);
  EXPECT_EQ(mixtral.find("moe_ffn_hidden_size")->as_int(), 64);  // Mixtral experts use intermediate_size
  EXPECT_FALSE(mixtral.find("moe_router_pre_softmax")->as_bool());  // Mixtral renormalises the top-k

  json::Value qwen3_moe = transformer_config_of("qwen3_moe");
  EXPECT_EQ(qwen3_moe.find("moe_ffn_hidden_size")->as_int(), 32);  // moe_intermediate_size
  EXPECT_TRUE(qwen3_moe.find("qk_layernorm")->as_bool());
  EXPECT_FALSE(qwen3_moe.find("moe_router_pre_softmax")->as_bool());  // norm_topk_prob true

  json::Value minicpm = transformer_config_of("minicpm");
  EXPECT_EQ(minicpm.find("scale_emb")->as_number(), 12.0);
  EXPECT_EQ(minicpm.find("scale_depth")->as_number(), 1.4);
  EXPECT_EQ(minicpm.find("dim_model_base")->as_number(), 8.0);
  EXPECT_EQ(transformer_config_of("llama2").find("scale_emb"), nullptr);
}

TEST(BridgeConfig, ModelTypeIsTheFallbackWhenArchitecturesIsMissing) {
  HfConfig c = config_from_text(R"({"model_type": "qwen2", "hidden_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10})");
  Detection d = detect_family(c);
  ASSERT_NE(d.family, nullptr);
  EXPECT_EQ(d.family->name, "qwen2");
}

TEST(BridgeConfig, UnsupportedModelsSayWhy) {
  Detection d = detect_family(config_from_text(R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})"));
  EXPECT_EQ(d.family, nullptr);
  EXPECT_NE(d.reason.find("GPT2LMHeadModel"), std::string::npos) << d.reason;
  EXPECT_NE(d.reason.find("MiniCPMForCausalLM"), std::string::npos) << d.reason;  // lists what is supported

  auto refused = [](const std::string& text, const std::string& needle) {
    try {
      model_config_from_hf(config_from_text(text));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("test config.json"), std::string::npos) << e.what();
    }
  };
  const std::string moe = R"("architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 2, "vocab_size": 10, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 8)";
  refused("{" + moe + R"(, "mlp_only_layers": [1]})", "mlp_only_layers");
  refused("{" + moe + R"(, "decoder_sparse_step": 2})", "decoder_sparse_step");
  refused(R"({"architectures": ["MiniCPMForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "scale_emb": 12})", "dim_model_base");
  refused(R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 3, "num_key_value_heads": 2, "intermediate_size": 16, "vocab_size": 10})",
          "num_key_value_heads");
}

TEST(BridgeConfig, FamiliesHaveUniqueNamesAndArchitectures) {
  // the list is generated from src/bridge/models/*.cpp; two files claiming one architecture would make
  // detection depend on file order
  std::set<std::string> names, architectures;
  for (const Family* f : all_families()) {
    EXPECT_TRUE(names.insert(f->name).second) << f->name;
    EXPECT_FALSE(f->architectures.empty()) << f->name;
    EXPECT_FALSE(f->mappings.empty()) << f->name;
    for (const std::string& a : f->architectures) EXPECT_TRUE(architectures.insert(a).second) << a;
    EXPECT_EQ(find_family(f->name), f);
  }
  EXPECT_EQ(names.size(), 8u);
}
