// Small tokenizer.json files that use what the real ones do not (added-token options, ids the file gets
// wrong, Metaspace "first", unknown characters, subword prefix and suffix, Split behaviours, Strip and regex
// Replace normalizers, Roberta post-processing, no decoder): ids and texts must equal Hugging Face
// tokenizers' (tests/fixtures/tokenizer/synthetic/*.expected.jsonl, from generate_references_node.js).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/json.h"
#include "tokenizer/decode_stream.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

using namespace mb;


TEST(TokenizerSynthetic, EveryFileMatchesHuggingFaceTokenizers) {
  const std::vector<std::string> names = mbtest::names_with_suffix(mbtest::fixture("tokenizer/synthetic"), ".expected.jsonl");
  ASSERT_GE(names.size(), 3u);
  for (const std::string& name : names) {
    const std::string dir = std::string(MB_FIXTURES_DIR) + "/tokenizer/synthetic/";
    auto tok = Tokenizer::load(dir + name + ".json");
    std::ifstream in(dir + name + ".expected.jsonl");
    std::string line;
    int checked = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json::Value ref = json::parse(line, name);
      const std::string& text = ref.find("text")->as_string();
      std::vector<int32_t> want;
      for (const json::Value& id : ref.find("ids")->items()) want.push_back(static_cast<int32_t>(id.as_int()));
      EXPECT_EQ(tok->encode(text), want) << name << ": " << json::quote(text);
      EXPECT_EQ(tok->decode(want, false), ref.find("decode")->as_string()) << name << ": " << json::quote(text);
      EXPECT_EQ(tok->decode(want, true), ref.find("decode_skip")->as_string()) << name << ": " << json::quote(text);
      DecodeStream stream(*tok, true);
      std::string streamed;
      for (int32_t id : want) streamed += stream.step(id);
      streamed += stream.finish();
      EXPECT_EQ(streamed, ref.find("decode_skip")->as_string()) << name << ": " << json::quote(text);
      ++checked;
    }
    EXPECT_GE(checked, 8) << name;
  }
}

TEST(TokenizerSynthetic, AddedTokenIdsFollowTheVocabularyNotTheFile) {
  auto tok = Tokenizer::load(std::string(MB_FIXTURES_DIR) + "/tokenizer/synthetic/byte_level_added.json");
  // the file says "hello" is 5 and "<s>" 9000; tokenizers gives "hello" its vocabulary id and numbers the
  // tokens missing from the vocabulary from the vocabulary's size on
  EXPECT_NE(tok->token_to_id("hello"), 5);
  EXPECT_EQ(tok->token_to_id("<s>"), 256 + 11);  // 256 byte characters and 11 merged tokens before it
  EXPECT_EQ(*tok->id_to_token(tok->token_to_id("</s>")), "</s>");
}

TEST(TokenizerSynthetic, RefusesWhatItDoesNotImplementNamingTheFile) {
  for (const char* doc : {R"({"model": {"type": "WordPiece", "vocab": {}}})",
                          R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": {"type": "NFKC"}})",
                          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})",
                          R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "truncation": {"max_length": 4}})",
                          R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "dropout": 0.1}})",
                          R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}})"}) {
    try {
      Tokenizer::parse(doc, "x/tokenizer.json");
      ADD_FAILURE() << "accepted " << doc;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("x/tokenizer.json"), std::string::npos) << e.what();
    }
  }
}
