// Legacy Megatron-LM checkpoints (mp_rank_* / model_optim_rng.pt) that torch.save wrote from Megatron-Core
// GPTModels at TP1, TP2 and PP2 (tests/fixtures/foundation/legacy), and ones we write.
#include "core/error.h"
#include "core/paths.h"
#include "io/json.h"
#include "io/megatron_legacy.h"
#include "io/megatron_tracker.h"
#include "io/safetensors.h"
#include "support/test_support.h"

using namespace mb;
using mbtest::BitwiseEqual;

namespace {
struct Layout {
  const char* name;
  int tp, pp;
};
const Layout kLayouts[] = {{"tp1", 1, 1}, {"tp2", 2, 1}, {"pp2", 1, 2}};

std::string rank_name(const MegatronLegacyCheckpoint& ck, size_t i) {
  return ck.ranks()[i].dir_name;
}
}  // namespace

TEST(LegacyRead, MatchesTorch) {
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.name);
    auto ck = MegatronLegacyCheckpoint::open(mbtest::fixture(std::string("foundation/legacy/") + l.name));
    EXPECT_EQ(ck->iteration(), 10);
    EXPECT_EQ(ck->tp_size(), l.tp);
    EXPECT_EQ(ck->pp_size(), l.pp);
    ASSERT_EQ(ck->ranks().size(), static_cast<size_t>(l.tp * l.pp));
    json::Value ref = json::parse_file(mbtest::fixture(std::string("foundation/legacy/") + l.name + ".reference.json"));
    auto tensors = SafetensorsFile::open(mbtest::fixture(std::string("foundation/legacy/") + l.name + ".reference.safetensors"));
    size_t compared = 0;
    for (size_t i = 0; i < ck->ranks().size(); ++i) {
      std::string rank = rank_name(*ck, i);
      SCOPED_TRACE(rank);
      const json::Value* want = ref.find(rank);
      ASSERT_NE(want, nullptr);
      const pickle::Node* root = ck->rank_file(i).root();
      EXPECT_EQ(pickle::as_int(pickle::dict_get(root, "iteration"), "", ""), want->find("iteration")->as_int());
      EXPECT_EQ(json::dump(mbtest::describe(pickle::dict_get(root, "checkpoint_version"))),
                json::dump(*want->find("checkpoint_version")));
      EXPECT_EQ(json::dump(mbtest::describe(pickle::dict_get(root, "args"))), json::dump(*want->find("args")));
      auto models = ck->models(i);
      ASSERT_EQ(models.size(), 1u);
      const pickle::Node* model = models[0].second;
      // keys in file order, tensors bit for bit, _extra_state values as torch saw them
      std::vector<std::string> keys;
      for (size_t k = 0; k + 1 < model->items.size(); k += 2) {
        const std::string& key = model->items[k]->text;
        keys.push_back(key);
        const pickle::Node* v = model->items[k + 1];
        if (v->kind == pickle::Kind::kTensor) {
          EXPECT_TRUE(BitwiseEqual(ck->rank_file(i).tensor(v), tensors->tensor(rank + "/" + key))) << key;
          ++compared;
        } else {
          EXPECT_EQ(json::dump(mbtest::describe(v)), json::dump(*want->find("model_non_tensors")->find(key))) << key;
        }
      }
      std::vector<std::string> want_keys;
      for (const auto& k : want->find("model_keys")->items()) want_keys.push_back(k.as_string());
      EXPECT_EQ(keys, want_keys);
      // the optimizer and rng state parse too (numpy arrays, Python's random state, torch tensors)
      EXPECT_NE(pickle::dict_get(root, "optimizer"), nullptr);
      EXPECT_NE(pickle::dict_get(root, "rng_state"), nullptr);
    }
    EXPECT_EQ(compared, tensors->entries().size());
  }
}

TEST(LegacyRead, MissingRankIsAnError) {
  std::string root = mbtest::scratch_dir("missing");
  std::string src = mbtest::fixture("foundation/legacy/tp2/iter_0000010/mp_rank_01/model_optim_rng.pt");
  make_directories(root + "/iter_0000010/mp_rank_01");
  mbtest::write_file(root + "/iter_0000010/mp_rank_01/model_optim_rng.pt", mbtest::read_file(src));
  write_tracker(root, 10);
  try {
    MegatronLegacyCheckpoint::open(root);
    FAIL() << "a missing mp_rank_00 went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mp_rank_00"), std::string::npos) << e.what();
  }
}

TEST(LegacyWrite, RoundTripAtTp2) {
  auto src = MegatronLegacyCheckpoint::open(mbtest::fixture("foundation/legacy/tp2"));
  std::string root = mbtest::scratch_dir("tp2");
  MegatronLegacyWriter w(root, 10, 2, 1);
  for (size_t i = 0; i < src->ranks().size(); ++i) {
    TorchSaveWriter tw;
    pickle::Document& d = tw.doc();
    pickle::Node* model = d.dict(true);
    const pickle::Node* orig = src->models(i)[0].second;
    for (size_t k = 0; k + 1 < orig->items.size(); k += 2) {
      const pickle::Node* v = orig->items[k + 1];
      d.dict_set(model, d.string(orig->items[k]->text),
                 v->kind == pickle::Kind::kTensor ? tw.tensor(src->rank_file(i).tensor(v)) : d.none());
    }
    pickle::Node* root_node = d.dict();
    d.dict_set(root_node, d.string("args"),
               make_namespace(d, {{"num_layers", d.integer(4)}, {"tensor_model_parallel_size", d.integer(2)},
                                  {"params_dtype", d.dtype(DType::BF16)}}));
    d.dict_set(root_node, d.string("checkpoint_version"), d.number(3.0));
    d.dict_set(root_node, d.string("iteration"), d.integer(10));
    d.dict_set(root_node, d.string("model"), model);
    w.write_rank(src->ranks()[i].tp, src->ranks()[i].pp, 0, tw, root_node);
  }
  EXPECT_FALSE(path_exists(join_path(root, kTrackerFileName)));  // written last
  w.finish();
  auto back = MegatronLegacyCheckpoint::open(root);
  EXPECT_EQ(back->tp_size(), 2);
  EXPECT_EQ(back->iteration(), 10);
  EXPECT_EQ(pickle::as_int(pickle::object_attr(back->args(), "num_layers"), "", ""), 4);
  for (size_t i = 0; i < back->ranks().size(); ++i) {
    const pickle::Node* a = src->models(i)[0].second;
    const pickle::Node* b = back->models(i)[0].second;
    ASSERT_EQ(a->items.size(), b->items.size());
    for (size_t k = 0; k + 1 < a->items.size(); k += 2) {
      EXPECT_EQ(a->items[k]->text, b->items[k]->text);
      if (a->items[k + 1]->kind == pickle::Kind::kTensor)
        EXPECT_TRUE(BitwiseEqual(src->rank_file(i).tensor(a->items[k + 1]), back->rank_file(i).tensor(b->items[k + 1])));
      else
        EXPECT_EQ(b->items[k + 1]->kind, pickle::Kind::kNone);
    }
  }
  // the archive inside each file is named after the file, as torch.save(path) names it
  ZipReader zip(MappedFile::open(back->ranks()[0].file)->bytes(), "rank0");
  EXPECT_NE(zip.find("model_optim_rng/data.pkl"), nullptr);
}
