// Family detection and the Hugging Face config -> Megatron TransformerConfig mapping, checked against the
// config.json files transformers wrote for the fixtures (tests/fixtures/bridge/hf) and the values the
// generator script asked transformers for.
#include "bridge/megatron_args.h"
#include "bridge/model_config.h"
#include "bridge/registry.h"
#include "core/error.h"
#include "core/paths.h"
#include "io/hf_config.h"
#include "io/megatron_legacy.h"
#include "io/pickle_value.h"
#include "support/test_support.h"

#include <cmath>
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
    {"gemma", "gemma"},    {"gemma2", "gemma2"}, {"gpt2", "gpt2"},       {"bert", "bert"},
    {"deepseek_v3", "deepseek_v3"}, {"mistral_window", "mistral"},
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
    // GPT-2's and BERT's config.json have fields of their own (Gpt2Fields, BertFields)
    if (std::string(f.family) == "gpt2" || std::string(f.family) == "bert") continue;
    json::Value hf = json::parse_file(config_path(f.dir));
    json::Value tc = transformer_config_of(f.dir);
    EXPECT_EQ(tc.find("num_layers")->as_int(), hf.find("num_hidden_layers")->as_int());
    EXPECT_EQ(tc.find("hidden_size")->as_int(), hf.find("hidden_size")->as_int());
    EXPECT_EQ(tc.find("num_attention_heads")->as_int(), hf.find("num_attention_heads")->as_int());
    EXPECT_EQ(tc.find("num_query_groups")->as_int(), hf.find("num_key_value_heads")->as_int());
    // (DeepSeek's head_dim is its rotary part; DeepSeekFieldsRoundTrip... checks its head sizes)
    if (std::string(f.family) != "deepseek_v3") {
      EXPECT_EQ(tc.find("kv_channels")->as_int(), hf.find("head_dim")->as_int());
    }
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

  // Gemma-2 (config.json: query_pre_attn_scalar 16, soft caps 1 and 3, sliding window 8 on layers 0 and 2)
  json::Value gemma2 = transformer_config_of("gemma2");
  EXPECT_EQ(gemma2.find("query_pre_attn_scalar")->as_number(), 16.0);
  EXPECT_EQ(gemma2.find("softmax_scale")->as_number(), 0.25);
  EXPECT_EQ(gemma2.find("attn_logit_softcapping")->as_number(), 1.0);
  EXPECT_EQ(gemma2.find("final_logit_softcapping")->as_number(), 3.0);
  EXPECT_TRUE(gemma2.find("post_layernorms")->as_bool());
  EXPECT_TRUE(gemma2.find("layernorm_zero_centered_gamma")->as_bool());
  EXPECT_EQ(gemma2.find("activation_func")->as_string(), "fast_gelu");
  // Megatron-Core's window (7, 0) is the query and the 7 positions before it: transformers' window of 8
  EXPECT_EQ(gemma2.find("window_size")->items()[0].as_int(), 7);
  EXPECT_EQ(gemma2.find("window_size")->items()[1].as_int(), 0);
  std::vector<int64_t> pattern;
  for (const json::Value& v : gemma2.find("window_attn_skip_freq")->items()) pattern.push_back(v.as_int());
  EXPECT_EQ(pattern, (std::vector<int64_t>{1, 0, 1, 0}));
  EXPECT_EQ(transformer_config_of("gemma").find("window_size"), nullptr);
}

TEST(BridgeConfig, Gpt2Fields) {
  // config.json: n_embd 32, n_layer 4, n_head 4, n_positions 128, n_inner null, gelu_new, eps 1e-5
  const ModelConfig c = model_config_from_hf(load_hf_config(config_path("gpt2")));
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_layers, 4);
  EXPECT_EQ(c.num_query_groups, 4);
  EXPECT_EQ(c.kv_channels, 8);
  EXPECT_EQ(c.ffn_hidden_size, 128);  // n_inner null: 4 * n_embd
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_TRUE(c.tied_embeddings && c.layer_norm && c.learned_positions && c.linear_bias && c.qkv_bias);
  EXPECT_FALSE(c.gated_mlp);
  EXPECT_EQ(c.mlp_activation, "gelu_tanh");
  json::Value tc = transformer_config_of("gpt2");
  EXPECT_EQ(tc.find("normalization")->as_string(), "LayerNorm");
  EXPECT_EQ(tc.find("position_embedding_type")->as_string(), "learned_absolute");
  EXPECT_TRUE(tc.find("add_bias_linear")->as_bool());
  EXPECT_FALSE(tc.find("gated_linear_unit")->as_bool());
  EXPECT_EQ(tc.find("layernorm_epsilon")->as_number(), 1e-5);
  // and back: the written config.json reads as the same model
  const ModelConfig back = model_config_from_hf(parse_hf_config(find_family("gpt2")->hf_config_for(c), "written"));
  EXPECT_EQ(back.hidden_size, c.hidden_size);
  EXPECT_EQ(back.ffn_hidden_size, c.ffn_hidden_size);
  EXPECT_EQ(back.max_position_embeddings, c.max_position_embeddings);
  EXPECT_EQ(back.mlp_activation, c.mlp_activation);
  EXPECT_EQ(back.norm_epsilon, c.norm_epsilon);
}

TEST(BridgeConfig, BertFields) {
  // config.json: hidden 32, 4 layers, 4 heads, intermediate 64, 128 positions, 2 token types, gelu, eps 1e-12
  const ModelConfig c = model_config_from_hf(load_hf_config(config_path("bert")));
  EXPECT_TRUE(c.encoder && c.residual_after_norm && c.layer_norm && c.learned_positions && c.linear_bias);
  EXPECT_EQ(c.num_token_types, 2);
  EXPECT_EQ(c.mlp_activation, "gelu");
  EXPECT_EQ(c.norm_epsilon, 1e-12);
  EXPECT_EQ(c.ffn_hidden_size, 64);
  json::Value tc = transformer_config_of("bert");
  EXPECT_EQ(tc.find("model_type")->as_string(), "bert");
  EXPECT_EQ(tc.find("num_tokentypes")->as_int(), 2);
  EXPECT_TRUE(tc.find("apply_residual_connection_post_layernorm")->as_bool());
  EXPECT_EQ(tc.find("activation_func")->as_string(), "gelu");
  const ModelConfig back = model_config_from_hf(parse_hf_config(find_family("bert")->hf_config_for(c), "written"));
  EXPECT_EQ(back.family, "bert");
  EXPECT_EQ(back.num_token_types, c.num_token_types);
  EXPECT_EQ(back.norm_epsilon, c.norm_epsilon);
  EXPECT_EQ(back.max_position_embeddings, c.max_position_embeddings);
}

TEST(BridgeConfig, Gemma2ConfigJsonRoundTrips) {
  const ModelConfig c = model_config_from_hf(load_hf_config(config_path("gemma2")));
  EXPECT_EQ(c.attention_window(0), 8);
  EXPECT_EQ(c.attention_window(1), 0);
  EXPECT_EQ(c.attention_scale(), 0.25);
  const Family* f = find_family("gemma2");
  ASSERT_NE(f, nullptr);
  const json::Value written = f->hf_config_for(c);
  const ModelConfig back = model_config_from_hf(parse_hf_config(written, "written config.json"));
  EXPECT_EQ(back.family, "gemma2");
  EXPECT_EQ(back.query_pre_attn_scalar, c.query_pre_attn_scalar);
  EXPECT_EQ(back.attn_logit_softcapping, c.attn_logit_softcapping);
  EXPECT_EQ(back.final_logit_softcapping, c.final_logit_softcapping);
  EXPECT_EQ(back.sliding_window, c.sliding_window);
  EXPECT_EQ(back.sliding_layers, c.sliding_layers);
  EXPECT_TRUE(back.sandwich_norms && back.norm_one_centered);
  EXPECT_EQ(back.mlp_activation, "gelu_tanh");

  // without layer_types, transformers' default: every other layer slides, from the first; null caps are none
  HfConfig h = config_from_text(R"({"architectures": ["Gemma2ForCausalLM"], "hidden_size": 8, "num_hidden_layers": 3,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "sliding_window": 4,
      "attn_logit_softcapping": null, "final_logit_softcapping": null})");
  const ModelConfig d = model_config_from_hf(h);
  EXPECT_EQ(d.sliding_layers, (std::vector<bool>{true, false, true}));
  EXPECT_FALSE(d.attn_logit_softcapping.has_value());
  EXPECT_FALSE(d.final_logit_softcapping.has_value());
  EXPECT_EQ(d.attention_scale(), 0.5);  // query_pre_attn_scalar defaults to head_dim (4)
}

TEST(BridgeConfig, DeepSeekFieldsRoundTripThroughConfigJsonAndMegatronArgs) {
  // generator: q_lora_rank 16, kv_lora_rank 16, qk_rope_head_dim 4, qk_nope_head_dim 8, v_head_dim 8, 8 routed
  // experts (moe_intermediate_size 16) in 4 groups keeping 2, top 2, 1 shared expert, first layer dense (64)
  const ModelConfig c = model_config_from_hf(load_hf_config(config_path("deepseek_v3")));
  auto expect_deepseek = [](const ModelConfig& x, const std::string& what) {
    EXPECT_EQ(x.family, "deepseek_v3") << what;
    EXPECT_TRUE(x.mla) << what;
    EXPECT_EQ(x.q_lora_rank, 16) << what;
    EXPECT_EQ(x.kv_lora_rank, 16) << what;
    EXPECT_EQ(x.qk_head_dim, 8) << what;
    EXPECT_EQ(x.qk_pos_emb_head_dim, 4) << what;
    EXPECT_EQ(x.v_head_dim, 8) << what;
    EXPECT_EQ(x.q_head_dim(), 12) << what;
    EXPECT_EQ(x.num_query_groups, 4) << what;
    EXPECT_EQ(x.ffn_hidden_size, 64) << what;
    EXPECT_EQ(x.moe_ffn_hidden_size, 16) << what;
    EXPECT_EQ(x.num_experts, 8) << what;
    EXPECT_EQ(x.moe_router_topk, 2) << what;
    EXPECT_EQ(x.moe_layers, (std::vector<bool>{false, true, true, true})) << what;
    EXPECT_TRUE(x.mixed_layers()) << what;
    EXPECT_EQ(x.moe_shared_expert_ffn, 16) << what;
    EXPECT_EQ(x.moe_score_function, "sigmoid") << what;
    EXPECT_TRUE(x.moe_expert_bias) << what;
    EXPECT_EQ(x.moe_router_num_groups, 4) << what;
    EXPECT_EQ(x.moe_router_group_topk, 2) << what;
    EXPECT_EQ(x.moe_router_topk_scaling, 2.5) << what;
    EXPECT_TRUE(x.moe_renormalize) << what;
  };
  expect_deepseek(c, "config.json");
  EXPECT_DOUBLE_EQ(c.attention_scale(), 1 / std::sqrt(12.0));
  EXPECT_EQ(c.rotary_dim(), 4);

  json::Value tc = megatron_transformer_config(c);
  EXPECT_TRUE(tc.find("multi_latent_attention")->as_bool());
  EXPECT_EQ(tc.find("moe_layer_freq")->size(), 4u);
  EXPECT_EQ(tc.find("moe_shared_expert_intermediate_size")->as_int(), 16);
  EXPECT_EQ(tc.find("moe_router_score_function")->as_string(), "sigmoid");
  EXPECT_EQ(tc.find("moe_router_group_topk")->as_int(), 2);

  expect_deepseek(model_config_from_hf(parse_hf_config(find_family("deepseek_v3")->hf_config_for(c), "written")),
                  "written config.json");
  // a checkpoint with no stored config.json: the Megatron args alone say the same
  pickle::Document d;
  ParallelLayout layout;
  const pickle::Node* args = make_megatron_args(d, c, layout, 256, "torch_dist", 0);
  expect_deepseek(model_config_from_args(args, "", "test args"), "Megatron args");
}

// DeepSeek-V3's released rope parameters (yarn, factor 40 over an original 4,096 positions): the softmax scale
// grows by yarn_mscale(40, mscale_all_dim)^2 as transformers' and Megatron-Core's MLA compute it, Megatron-Core
// gets rope_type yarn with its field names, and the parameters survive config.json and Megatron args.
TEST(BridgeConfig, DeepSeekYarnRopeThroughEveryConfig) {
  const ModelConfig c = model_config_from_hf(config_from_text(R"({"architectures": ["DeepseekV3ForCausalLM"],
      "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10,
      "kv_lora_rank": 4, "qk_nope_head_dim": 4, "qk_rope_head_dim": 4, "v_head_dim": 2, "q_lora_rank": null,
      "max_position_embeddings": 163840, "rope_theta": 10000, "rope_scaling": {"type": "yarn", "factor": 40,
      "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1, "mscale": 1.0,
      "mscale_all_dim": 1.0}})"));
  auto expect_yarn = [](const ModelConfig& x, const std::string& what) {
    const RopeScaling& r = x.rope_scaling;
    EXPECT_EQ(r.type, "yarn") << what;
    EXPECT_EQ(r.factor.value_or(0), 40.0) << what;
    EXPECT_EQ(r.original_max_position_embeddings.value_or(0), 4096) << what;
    EXPECT_EQ(r.beta_fast.value_or(0), 32.0) << what;
    EXPECT_EQ(r.beta_slow.value_or(0), 1.0) << what;
    EXPECT_EQ(r.mscale.value_or(0), 1.0) << what;
    EXPECT_EQ(r.mscale_all_dim.value_or(0), 1.0) << what;
    const double m = 0.1 * std::log(40.0) + 1;
    EXPECT_NEAR(x.attention_scale(), m * m / std::sqrt(8.0), 1e-12) << what;
  };
  expect_yarn(c, "config.json");
  json::Value tc = megatron_transformer_config(c);
  EXPECT_EQ(tc.find("rope_type")->as_string(), "yarn");
  EXPECT_EQ(tc.find("rotary_scaling_factor")->as_number(), 40.0);
  EXPECT_EQ(tc.find("original_max_position_embeddings")->as_int(), 4096);
  EXPECT_EQ(tc.find("mscale_all_dim")->as_number(), 1.0);
  expect_yarn(model_config_from_hf(parse_hf_config(find_family("deepseek_v3")->hf_config_for(c), "written")),
              "written config.json");
  pickle::Document d;
  const ModelConfig from_args = model_config_from_args(make_megatron_args(d, c, ParallelLayout{}, 16, "torch_dist", 0),
                                                       "", "test args");
  expect_yarn(from_args, "Megatron args");
  // and the config.json written from those args, which had no rope parameters object to keep
  expect_yarn(model_config_from_hf(parse_hf_config(find_family("deepseek_v3")->hf_config_for(from_args), "written")),
              "config.json from args");
  // plain rope stays plain: Megatron-Core's MLA is told so (its default is yarn)
  const ModelConfig plain = model_config_from_hf(load_hf_config(config_path("deepseek_v3")));
  EXPECT_EQ(megatron_transformer_config(plain).find("rope_type")->as_string(), "rope");
  EXPECT_EQ(model_config_from_args(make_megatron_args(d, plain, ParallelLayout{}, 256, "torch_dist", 0), "", "test args")
                .rope_scaling.type,
            "default");
}

TEST(BridgeConfig, MistralSlidesEveryLayer) {
  const ModelConfig c = model_config_from_hf(load_hf_config(config_path("mistral_window")));
  for (int64_t l = 0; l < c.num_layers; ++l) EXPECT_EQ(c.attention_window(l), 8) << l;
  json::Value tc = megatron_transformer_config(c);
  EXPECT_EQ(tc.find("window_size")->items().at(0).as_int(), 7);  // Megatron-Core's (left, right): 7 before, itself
  const ModelConfig back = model_config_from_hf(parse_hf_config(find_family("mistral")->hf_config_for(c), "written"));
  EXPECT_EQ(back.sliding_window, 8);
  EXPECT_EQ(back.sliding_layers, c.sliding_layers);
  // a checkpoint with no stored config.json: Megatron's --window-size and --window-attn-skip-freq say the same
  pickle::Document d;
  const ModelConfig from_args = model_config_from_args(make_megatron_args(d, c, ParallelLayout{}, 256, "torch_dist", 0),
                                                       "", "test args");
  EXPECT_EQ(from_args.sliding_window, 8);
  EXPECT_EQ(from_args.sliding_layers, c.sliding_layers);
}

// Megatron-Core's is_layer_window_attention: window_attn_skip_freq as an int n keeps every n-th layer (1-based)
// full; absent, every layer slides; (-1, -1) is no window; a window that looks ahead is refused.
TEST(BridgeConfig, MegatronWindowArguments) {
  auto args = [](pickle::Document& d, pickle::Node* size, pickle::Node* freq) {
    return make_namespace(d, {{"num_layers", d.integer(4)}, {"hidden_size", d.integer(8)},
                              {"num_attention_heads", d.integer(2)}, {"ffn_hidden_size", d.integer(16)},
                              {"vocab_size", d.integer(10)}, {"normalization", d.string("RMSNorm")},
                              {"position_embedding_type", d.string("rope")}, {"add_bias_linear", d.boolean(false)},
                              {"swiglu", d.boolean(true)}, {"window_size", size}, {"window_attn_skip_freq", freq}});
  };
  pickle::Document d;
  auto pair = [&](int64_t left, int64_t right) { return d.tuple({d.integer(left), d.integer(right)}); };
  ModelConfig c = model_config_from_args(args(d, pair(3, 0), d.integer(2)), "", "test args");
  EXPECT_EQ(c.sliding_window, 4);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, false, true, false}));
  c = model_config_from_args(args(d, pair(3, 0), d.none()), "", "test args");
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>(4, true)));
  c = model_config_from_args(args(d, pair(-1, -1), d.none()), "", "test args");
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_THROW(model_config_from_args(args(d, pair(3, 2), d.none()), "", "test args"), Error);
  EXPECT_THROW(model_config_from_args(args(d, pair(3, 0), d.list({d.integer(1)})), "", "test args"), Error);
}

TEST(BridgeConfig, ModelTypeIsTheFallbackWhenArchitecturesIsMissing) {
  HfConfig c = config_from_text(R"({"model_type": "qwen2", "hidden_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10})");
  Detection d = detect_family(c);
  ASSERT_NE(d.family, nullptr);
  EXPECT_EQ(d.family->name, "qwen2");
}

TEST(BridgeConfig, UnsupportedModelsSayWhy) {
  Detection d = detect_family(config_from_text(R"({"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"})"));
  EXPECT_EQ(d.family, nullptr);
  EXPECT_NE(d.reason.find("T5ForConditionalGeneration"), std::string::npos) << d.reason;
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
  const std::string gemma2 = R"("architectures": ["Gemma2ForCausalLM"], "hidden_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "sliding_window": 4)";
  refused("{" + gemma2 + R"(, "layer_types": ["sliding_attention", "chunked_attention"]})", "layer_types[1]");
  refused("{" + gemma2 + R"(, "layer_types": ["sliding_attention"]})", "layer_types");
  refused("{" + gemma2 + R"(, "attn_logit_softcapping": -1})", "attn_logit_softcapping");
  const std::string deepseek = R"("architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "kv_lora_rank": 4, "qk_nope_head_dim": 2,
      "v_head_dim": 2, "q_lora_rank": null)";
  refused("{" + deepseek + R"(, "qk_rope_head_dim": 2, "rope_interleave": false})", "rope_interleave");
  refused("{" + deepseek + R"(, "qk_rope_head_dim": 2, "attention_bias": true})", "attention_bias");
  refused("{" + deepseek + R"(, "qk_rope_head_dim": 3})", "qk_rope_head_dim");
  refused(R"({"architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 8, "num_hidden_layers": 2,
      "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 10, "qk_nope_head_dim": 2,
      "qk_rope_head_dim": 2, "v_head_dim": 2})", "kv_lora_rank");
  const std::string gpt2 = R"("architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_layer": 1, "n_head": 2,
      "n_positions": 16, "vocab_size": 10)";
  refused("{" + gpt2 + R"(, "scale_attn_by_inverse_layer_idx": true})", "scale_attn_by_inverse_layer_idx");
  refused("{" + gpt2 + R"(, "activation_function": "relu"})", "activation_function");
  refused(R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_layer": 1, "n_head": 3, "n_positions": 16,
      "vocab_size": 10})", "n_head");
  refused(R"({"architectures": ["GPT2LMHeadModel"], "n_layer": 1, "n_head": 2, "n_positions": 16, "vocab_size": 10})",
          "n_embd");
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
  EXPECT_EQ(names.size(), 14u);
}
