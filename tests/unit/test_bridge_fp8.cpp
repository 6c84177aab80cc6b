// Block-wise FP8 Hugging Face checkpoints (DeepSeek-V3's release format: F8_E4M3 weights, a float32
// weight_scale_inv per block, config.json's quantization_config), read dequantized to bf16. Against
// transformers (tests/fixtures/bridge/fp8, generate_fp8_fixture.py: torch quantized the tiny DeepSeek-V3 in
// blocks of 16, transformers loaded it with FineGrainedFP8Config(dequantize=True)): a TP2 import and its export
// give every tensor of transformers' dequantized model bit for bit, and the CPU engine straight from the FP8
// folder gives that model's logits. Also the dequantization's rules on hand-made tensors (each block its scale,
// partial blocks at the edges, misshapen scales, other quantizations refused), and the plumbing on a folder this
// test quantizes itself: no scale tensors exported, no quantization_config kept, a missing scale named.
#include <gtest/gtest.h>

#include <cmath>

#include "bridge/convert.h"
#include "bridge/fp8_weights.h"
#include "bridge/param_source.h"
#include "core/error.h"
#include "core/float_formats.h"
#include "core/paths.h"
#include "engine/cpu/cpu_model.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/safetensors_sharded.h"
#include "support/greedy_reference.h"
#include "support/image_fixtures.h"
#include "support/test_support.h"

using namespace mb;

namespace {

constexpr int64_t kBlock = 16;

bool quantized(const std::string& name, const Tensor& t) {
  const std::string suffix = "proj.weight";
  return name.rfind("model.layers.", 0) == 0 && t.ndim() == 2 && name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// W as F8_E4M3 and its scales (max |w| / 448 per block), as DeepSeek quantizes
std::pair<Tensor, Tensor> quantize(const Tensor& weight) {
  const Tensor w = weight.contiguous().to(DType::F32);
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  const int64_t br = (rows + kBlock - 1) / kBlock, bc = (cols + kBlock - 1) / kBlock;
  std::vector<float> scale(static_cast<size_t>(br * bc), 0.f);
  const float* v = w.data_as<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float& s = scale[static_cast<size_t>(r / kBlock * bc + c / kBlock)];
      s = std::max(s, std::fabs(v[r * cols + c]));
    }
  for (float& s : scale) s = std::max(s, 1e-12f) / 448.f;
  std::vector<uint8_t> q(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      q[static_cast<size_t>(r * cols + c)] = f32_to_f8e4m3(v[r * cols + c] / scale[static_cast<size_t>(r / kBlock * bc + c / kBlock)]);
  return {Tensor::from_bytes(DType::F8_E4M3, {rows, cols}, q.data(), q.size()),
          Tensor::from_bytes(DType::F32, {br, bc}, scale.data(), scale.size() * sizeof(float))};
}

// The tiny DeepSeek-V3 with its decoder layers' linear weights quantized; returns the folder.
std::string quantized_folder(const std::string& name) {
  const std::string src = mbtest::fixture("bridge/hf/deepseek_v3"), dir = mbtest::scratch_dir(name);
  auto folder = SafetensorsFolder::open(src);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : folder->names()) {
    const Tensor t = folder->tensor(n);
    if (!quantized(n, t)) {
      tensors.emplace_back(n, t);
      continue;
    }
    auto [q, s] = quantize(t);
    tensors.emplace_back(n, q);
    tensors.emplace_back(bridge::fp8_scale_name(n), s);
  }
  std::vector<SafetensorsSpec> specs;
  for (const auto& [n, t] : tensors) specs.push_back({n, t.dtype(), t.shape()});
  SafetensorsWriter writer(join_path(dir, "model.safetensors"), specs, {{"format", "pt"}});
  for (const auto& [n, t] : tensors) writer.write(n, t);
  writer.finish(false);
  json::Value config = json::parse_file(join_path(src, "config.json"));
  json::Value q = json::Value::object();
  q.set("quant_method", "fp8");
  q.set("fmt", "e4m3");
  json::Value block = json::Value::array();
  block.push(kBlock);
  block.push(kBlock);
  q.set("weight_block_size", std::move(block));
  config.set("quantization_config", std::move(q));
  mbtest::write_file(join_path(dir, "config.json"), json::dump(config, 2));
  mbtest::write_file(join_path(dir, "generation_config.json"), mbtest::read_file(join_path(src, "generation_config.json")));
  return dir;
}

}  // namespace

TEST(BridgeFp8, ImportAndExportGiveTransformersDequantizedWeights) {
  const std::string fp8 = mbtest::fixture("bridge/fp8/deepseek_v3_fp8"), root = mbtest::scratch_dir("bridge_fp8_ref");
  bridge::ImportOptions io;
  io.target.layout.tp = 2;
  bridge::import_checkpoint(fp8, join_path(root, "mg"), io);
  bridge::export_checkpoint(join_path(root, "mg"), join_path(root, "hf"), {});
  auto reference = SafetensorsFile::open(mbtest::fixture("bridge/fp8/deepseek_v3_fp8.dequantized.safetensors"));
  auto exported = SafetensorsFolder::open(join_path(root, "hf"));
  // transformers holds each layer's experts fused ("mlp.experts.gate_up_proj" [experts, 2 x ffn, hidden]: gate
  // rows, then up rows; "mlp.experts.down_proj" [experts, hidden, ffn]); the checkpoint names them one by one
  auto expert_rows = [](const Tensor& fused, int64_t e, int64_t first, int64_t rows) {
    const Tensor t = fused.contiguous().to(DType::BF16);
    const int64_t cols = t.shape()[2];
    const auto* base = static_cast<const uint8_t*>(t.data()) + ((e * t.shape()[1] + first) * cols) * 2;
    return Tensor::from_bytes(DType::BF16, {rows, cols}, base, static_cast<size_t>(rows * cols * 2));
  };
  size_t compared = 0;
  for (const SafetensorsEntry& e : reference->entries()) {
    SCOPED_TRACE(e.name);
    const Tensor want = reference->tensor(e.name);
    std::vector<std::pair<std::string, Tensor>> expected;  // exported name, the reference's values
    const std::string fused_gate_up = "mlp.experts.gate_up_proj", fused_down = "mlp.experts.down_proj";
    const size_t at = e.name.find("mlp.experts.");
    if (at != std::string::npos && (e.name.substr(at) == fused_gate_up || e.name.substr(at) == fused_down)) {
      const std::string prefix = e.name.substr(0, at) + "mlp.experts.";
      for (int64_t x = 0; x < want.shape()[0]; ++x) {
        const std::string expert = prefix + std::to_string(x) + ".";
        if (e.name.substr(at) == fused_down) {
          expected.emplace_back(expert + "down_proj.weight", expert_rows(want, x, 0, want.shape()[1]));
        } else {
          const int64_t ffn = want.shape()[1] / 2;
          expected.emplace_back(expert + "gate_proj.weight", expert_rows(want, x, 0, ffn));
          expected.emplace_back(expert + "up_proj.weight", expert_rows(want, x, ffn, ffn));
        }
      }
    } else {
      expected.emplace_back(e.name, want);
    }
    for (const auto& [name, values] : expected) {
      if (!exported->find(name).file) {
        ADD_FAILURE() << name << " not exported";
        continue;
      }
      const Tensor got = exported->tensor(name);
      EXPECT_EQ(got.dtype(), DType::BF16) << name;
      EXPECT_TRUE(bitwise_equal(got, values.to(got.dtype()))) << name;
      ++compared;
    }
  }
  EXPECT_EQ(compared, exported->names().size());
}

TEST(BridgeFp8, CpuLogitsFromTheFp8FolderAreTheDequantizedModels) {
  auto ref = SafetensorsFile::open(mbtest::fixture("bridge/fp8/deepseek_v3_fp8.logits.safetensors"));
  engine::CpuModel model(*bridge::open_hf_source(mbtest::fixture("bridge/fp8/deepseek_v3_fp8")));
  const std::vector<float> want = mbtest::floats_of(ref->tensor("logits"));
  const std::vector<float> got = model.forward(mbtest::ids_of(ref->tensor("input_ids")));
  ASSERT_EQ(got.size(), want.size());
  const double diff = mbtest::relative_max_diff(got.data(), want.data(), want.size());
  std::printf("deepseek_v3_fp8: logits max |diff| / max |logit| = %.2e\n", diff);
  EXPECT_LE(diff, 1e-4);
}

TEST(BridgeFp8, EachBlockItsScale) {
  // 3 x 5 weights in blocks of 2 x 2: scales [2, 3]; every value 1.0 (0x38 in e4m3), so each output is its
  // block's scale
  std::vector<uint8_t> ones(15, 0x38);
  const Tensor w = Tensor::from_bytes(DType::F8_E4M3, {3, 5}, ones.data(), ones.size());
  const std::vector<float> scales = {1, 2, 3, 4, 5, 6};
  const Tensor s = Tensor::from_bytes(DType::F32, {2, 3}, scales.data(), scales.size() * sizeof(float));
  const Tensor out = bridge::dequantize_fp8_blocks(w, s, {2, 2}, "w");
  ASSERT_EQ(out.dtype(), DType::BF16);
  const uint16_t* v = out.data_as<uint16_t>();
  const float want[3][5] = {{1, 1, 2, 2, 3}, {1, 1, 2, 2, 3}, {4, 4, 5, 5, 6}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) EXPECT_EQ(bf16_to_f32(v[r * 5 + c]), want[r][c]) << r << ", " << c;
  const Tensor wrong = Tensor::from_bytes(DType::F32, {3, 2}, scales.data(), scales.size() * sizeof(float));
  EXPECT_EQ(mbtest::status_of([&] { bridge::dequantize_fp8_blocks(w, wrong, {2, 2}, "w"); }), Status::kFormat);

  auto q = [](const std::string& text) {
    return bridge::fp8_block_quantization(json::parse(text, "config.json"), "config.json");
  };
  EXPECT_FALSE(q("{}").has_value());
  EXPECT_EQ(q(R"({"quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 64]}})")->cols, 64);
  EXPECT_EQ(mbtest::status_of([&] { q(R"({"quantization_config": {"quant_method": "gptq", "bits": 4}})"); }), Status::kUnsupported);
  EXPECT_EQ(mbtest::status_of([&] { q(R"({"quantization_config": {"quant_method": "fp8"}})"); }), Status::kUnsupported);
  EXPECT_EQ(mbtest::status_of([&] { q(R"({"quantization_config": {"quant_method": "fp8", "weight_block_size": [0, 8]}})"); }),
            Status::kFormat);
}

TEST(BridgeFp8, ImportAndExportHoldTheDequantizedWeights) {
  const std::string fp8 = quantized_folder("bridge_fp8_folder"), root = mbtest::scratch_dir("bridge_fp8");
  bridge::ImportOptions io;
  io.target.layout.tp = 2;
  bridge::import_checkpoint(fp8, join_path(root, "mg"), io);
  bridge::export_checkpoint(join_path(root, "mg"), join_path(root, "hf"), {});
  auto source = SafetensorsFolder::open(fp8), exported = SafetensorsFolder::open(join_path(root, "hf"));
  size_t compared = 0, dequantized = 0;
  for (const std::string& name : source->names()) {
    if (name.size() > 10 && name.compare(name.size() - 10, 10, "_scale_inv") == 0) {
      EXPECT_FALSE(exported->find(name).file) << name << " exported";
      continue;
    }
    SCOPED_TRACE(name);
    ASSERT_TRUE(exported->find(name).file) << "not exported";
    Tensor want = source->tensor(name);
    if (want.dtype() == DType::F8_E4M3) {
      want = bridge::dequantize_fp8_blocks(want, source->tensor(bridge::fp8_scale_name(name)), {kBlock, kBlock}, name);
      ++dequantized;
    }
    EXPECT_TRUE(bitwise_equal(exported->tensor(name), want));
    ++compared;
  }
  EXPECT_EQ(compared, exported->names().size());
  EXPECT_GT(dequantized, 10u);
  EXPECT_EQ(json::parse_file(join_path(root, "hf/config.json")).find("quantization_config"), nullptr);
  EXPECT_EQ(json::parse(bridge::open_hf_source(fp8)->hf_config_text(), "config").find("quantization_config"), nullptr);
}

TEST(BridgeFp8, TheEngineLoadsItAndAMissingScaleIsNamed) {
  const std::string fp8 = quantized_folder("bridge_fp8_engine");
  {
    engine::CpuModel model(*bridge::open_hf_source(fp8));
    EXPECT_EQ(model.forward({1, 2, 3}).size(), static_cast<size_t>(3 * model.config().vocab_size));
  }
  // the same folder without one scale (the file rewritten without it)
  auto folder = SafetensorsFolder::open(fp8);
  std::string dropped;
  std::vector<SafetensorsSpec> specs;
  for (const std::string& n : folder->names()) {
    if (dropped.empty() && n.size() > 10 && n.compare(n.size() - 10, 10, "_scale_inv") == 0) {
      dropped = n;
      continue;
    }
    const Tensor t = folder->tensor(n);
    specs.push_back({n, t.dtype(), t.shape()});
  }
  ASSERT_FALSE(dropped.empty());
  const std::string dir = mbtest::scratch_dir("bridge_fp8_missing");
  {
    SafetensorsWriter writer(join_path(dir, "model.safetensors"), specs, {{"format", "pt"}});
    for (const SafetensorsSpec& s : specs) writer.write(s.name, folder->tensor(s.name));
    writer.finish(false);
  }
  mbtest::write_file(join_path(dir, "config.json"), mbtest::read_file(join_path(fp8, "config.json")));
  try {
    engine::CpuModel model(*bridge::open_hf_source(dir));
    FAIL() << "loaded without " << dropped;
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kNotFound);
    EXPECT_NE(e.message().find(dropped), std::string::npos) << e.message();
  }
}
