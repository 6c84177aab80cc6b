// The mb_tokenizer handle, shared by the tokenizer calls (api_tokenizer.cpp) and text generation
// (api_model.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

struct mb_tokenizer {
  std::unique_ptr<mb::Tokenizer> tokenizer;
  std::string error;
  std::vector<int32_t> ids;  // the last encode
  std::string text;          // the last decode
  std::string info_json;
};
