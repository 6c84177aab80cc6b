// JSON and Hugging Face config.json in both spellings. The transformers-5 config is the fixture
// transformers 5.17 wrote; the transformers-4 ones are inputs shaped like the published config.json of
// Llama-3.1-8B and Qwen2-7B (as transformers 4 wrote them).
#include "core/error.h"
#include "io/hf_config.h"
#include "io/json.h"
#include "support/test_support.h"

using namespace mb;

TEST(Json, ParseDumpRoundTrip) {
  std::string text = R"({"a":[1,-2,3.5,true,null,"x\"y\n"],"b":{"c":1e-05,"d":18446744073709551615},"e":[]})";
  json::Value v = json::parse(text, "inline");
  EXPECT_EQ(v.find("a")->items()[1].as_int(), -2);
  EXPECT_DOUBLE_EQ(v.find("b")->find("c")->as_number(), 1e-05);
  EXPECT_FALSE(v.find("b")->find("d")->is_int());  // beyond int64: kept as a number
  EXPECT_EQ(json::dump(json::parse(json::dump(v), "again")), json::dump(v));
  EXPECT_EQ(json::dump(json::Value(0.1)), "0.1");
  EXPECT_EQ(json::dump(json::Value(1.0)), "1.0");
  EXPECT_EQ(json::dump(json::Value(1e-05)), "1e-05");
  // member order is file order
  json::Value o = json::parse(R"({"z":1,"a":2})", "order");
  EXPECT_EQ(o.members()[0].first, "z");
}

TEST(Json, ErrorsNameTheSource) {
  for (const char* bad : {"{", "[1,]", "{\"a\" 1}", "\"\xff\xfe\"", "nul"}) {
    try {
      json::parse(bad, "/some/config.json");
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kFormat);
      EXPECT_EQ(std::string(e.what()).rfind("/some/config.json: ", 0), 0u) << e.what();
    }
  }
  std::string deep(json::kMaxDepth + 5, '[');
  deep += std::string(json::kMaxDepth + 5, ']');
  EXPECT_THROW(json::parse(deep, "deep.json"), Error);
}

TEST(HfConfig, Transformers5FixtureFromTransformers) {
  HfConfig c = load_hf_config(mbtest::fixture("foundation/hf_tiny_llama_sharded"));
  EXPECT_TRUE(c.transformers5_style);
  EXPECT_EQ(c.architectures, std::vector<std::string>{"LlamaForCausalLM"});
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, "default");
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
}

TEST(HfConfig, Transformers4Llama31) {
  const char* text = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "vocab_size": 128256})";
  HfConfig c = parse_hf_config(json::parse(text, "llama31.json"), "llama31.json");
  EXPECT_FALSE(c.transformers5_style);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(*c.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(*c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(*c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.dtype, DType::BF16);
}

TEST(HfConfig, Transformers4QwenAndOldRopeSpelling) {
  const char* text = R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 3584, "num_attention_heads": 28,
    "num_key_value_heads": 4, "rope_theta": 1000000.0, "sliding_window": 131072, "torch_dtype": "bfloat16",
    "rope_scaling": {"type": "linear", "factor": 2.0}, "num_local_experts": 8, "num_experts_per_tok": 2,
    "scale_emb": 12, "scale_depth": 1.4, "dim_model_base": 256})";
  HfConfig c = parse_hf_config(json::parse(text, "q.json"), "q.json");
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_EQ(c.sliding_window, 131072);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_DOUBLE_EQ(*c.scale_emb, 12.0);
  EXPECT_DOUBLE_EQ(*c.dim_model_base, 256.0);
}

TEST(HfConfig, BadFieldsAreNamed) {
  try {
    parse_hf_config(json::parse(R"({"hidden_size": "big"})", "c.json"), "c.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("c.json"), std::string::npos);
  }
  EXPECT_THROW(parse_hf_config(json::parse(R"({"torch_dtype": "float128"})", "c.json"), "c.json"), Error);
}

TEST(Json, IntegersTooBigForSixtyFourBitsReadAsDoublesAsPythonWritesThem) {
  // tokenizer_config.json files carry model_max_length = int(1e30) written out in full
  json::Value v = json::parse(R"({"model_max_length": 1000000000000000019884624838656, "s": "12345678901234567890123",
                                  "n": [-98765432109876543210987, 1.5e3, 7]})", "tokenizer_config.json");
  EXPECT_DOUBLE_EQ(v.find("model_max_length")->as_number(), 1e30);
  EXPECT_EQ(v.find("s")->as_string(), "12345678901234567890123");
  EXPECT_DOUBLE_EQ(v.find("n")->items()[0].as_number(), -98765432109876543210987.0);
  EXPECT_DOUBLE_EQ(v.find("n")->items()[1].as_number(), 1500.0);
  EXPECT_EQ(v.find("n")->items()[2].as_int(), 7);
  EXPECT_THROW(json::parse(R"({"a": 12x})", "bad.json"), Error);
}
