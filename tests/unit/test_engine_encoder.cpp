// BERT on the CPU reference: the masked-LM logits transformers' float32 BertForMaskedLM computed
// (tests/fixtures/generate_family_fixtures.py: two rows of 12 tokens with both token types, the second padded
// after 8), from the Hugging Face folder and from Megatron checkpoints mbridge wrote (torch_dist TP2 x PP2,
// legacy TP2); an encoder refuses to generate.
#include <gtest/gtest.h>

#include "bridge/convert.h"
#include "bridge/param_source.h"
#include "core/error.h"
#include "engine/cpu/cpu_model.h"
#include "io/safetensors.h"
#include "support/greedy_reference.h"
#include "support/test_support.h"

using namespace mb;

namespace {

std::vector<int32_t> row_of(const Tensor& t, int64_t row, int64_t length) {
  const Tensor r = t.contiguous().to(DType::I64);
  std::vector<int32_t> out;
  for (int64_t i = 0; i < length; ++i) out.push_back(static_cast<int32_t>(r.data_as<int64_t>()[row * r.size(1) + i]));
  return out;
}

// Every unpadded position of both rows; returns the worst relative difference.
double worst_against_transformers(const engine::CpuModel& model) {
  auto file = SafetensorsFile::open(mbtest::fixture("bridge/hf/bert.logits.safetensors"));
  const Tensor ids = file->tensor("input_ids"), types = file->tensor("token_type_ids"), mask = file->tensor("attention_mask");
  const Tensor logits = file->tensor("logits").contiguous().to(DType::F32);  // [2, 12, vocab]
  const int64_t rows = ids.size(0), seq = ids.size(1), V = logits.size(2);
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t length = 0;  // the padding is at the end of the row
    for (int32_t m : row_of(mask, r, seq)) length += m;
    EXPECT_GT(length, 0);
    const std::vector<float> got = model.encode(row_of(ids, r, length), row_of(types, r, length));
    EXPECT_EQ(got.size(), static_cast<size_t>(length * V));
    worst = std::max(worst, mbtest::relative_max_diff(got.data(), logits.data_as<float>() + r * seq * V,
                                                      static_cast<size_t>(length * V)));
  }
  return worst;
}

}  // namespace

TEST(EngineEncoder, BertMaskedLmLogitsFromHuggingFaceAndMegatron) {
  const std::string hf = mbtest::fixture("bridge/hf/bert");
  {
    engine::CpuModel model(*bridge::open_hf_source(hf));
    EXPECT_LT(worst_against_transformers(model), 1e-4) << "from Hugging Face";
  }
  const std::string root = mbtest::scratch_dir("engine_encoder");
  for (Format format : {Format::kTorchDist, Format::kMegatronLegacy}) {
    bridge::ImportOptions o;
    o.target.layout.tp = 2;
    o.target.layout.pp = format == Format::kTorchDist ? 2 : 1;
    o.target.format = format;
    o.target.fsync = false;
    const std::string dir = root + (format == Format::kTorchDist ? "/dist" : "/legacy");
    bridge::import_checkpoint(hf, dir, o);
    engine::CpuModel model(*bridge::open_megatron_source(dir, {}));
    EXPECT_LT(worst_against_transformers(model), 1e-4) << "from Megatron " << dir;
  }
}

TEST(EngineEncoder, TokenTypesMatterAndEncodersDoNotGenerate) {
  engine::CpuModel model(*bridge::open_hf_source(mbtest::fixture("bridge/hf/bert")));
  const std::vector<int32_t> ids = {5, 17, 200, 3};
  EXPECT_NE(model.encode(ids, {}), model.encode(ids, {0, 0, 1, 1}));
  EXPECT_EQ(model.encode(ids, {}), model.encode(ids, {0, 0, 0, 0}));
  EXPECT_THROW(model.encode(ids, {0, 2, 0, 0}), Error);  // two token types
  EXPECT_THROW(model.encode(ids, {0}), Error);
  try {
    model.generate({ids}, engine::GenerateOptions{}, {});
    ADD_FAILURE() << "an encoder generated";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoder"), std::string::npos) << e.what();
  }
}
