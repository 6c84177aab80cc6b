// C ABI: tokenizers and streaming decode (include/mbridge.h, "tokenizers").
#include <memory>
#include <string>
#include <vector>

#include "api/api_guard.h"
#include "api/api_tokenizer_handle.h"
#include "hub/model_path.h"
#include "io/json.h"
#include "mbridge.h"
#include "tokenizer/decode_stream.h"
#include "tokenizer/tokenizer.h"

struct mb_decode_stream {
  std::unique_ptr<mb::DecodeStream> stream;
  std::string error;
  std::string text;
};

mb_status mb_tokenizer_load(mb_tokenizer** out, const char* path) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(out, "out");
    *out = nullptr;
    mb::api::require(path, "path");
    auto handle = std::make_unique<mb_tokenizer>();
    handle->tokenizer = mb::Tokenizer::load(mb::hub::local_model_path(path, mb::hub::Need::kTokenizer));
    *out = handle.release();
  });
}

void mb_tokenizer_free(mb_tokenizer* tokenizer) { delete tokenizer; }

const char* mb_tokenizer_errmsg(const mb_tokenizer* tokenizer) { return tokenizer ? tokenizer->error.c_str() : "NULL tokenizer"; }

mb_status mb_tokenizer_encode(mb_tokenizer* tokenizer, const char* text, size_t length, int add_special_tokens,
                              const int32_t** ids, size_t* count) {
  if (!tokenizer) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "tokenizer is NULL"); });
  return mb::api::guarded(&tokenizer->error, [&] {
    mb::api::require(ids, "ids");
    mb::api::require(count, "count");
    if (!text && length) mb::fail(mb::Status::kInvalidArgument, "text is NULL");
    tokenizer->ids = tokenizer->tokenizer->encode(std::string_view(text ? text : "", length), add_special_tokens != 0);
    *ids = tokenizer->ids.data();
    *count = tokenizer->ids.size();
  });
}

mb_status mb_tokenizer_decode(mb_tokenizer* tokenizer, const int32_t* ids, size_t count, int skip_special_tokens,
                              const char** text, size_t* length) {
  if (!tokenizer) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "tokenizer is NULL"); });
  return mb::api::guarded(&tokenizer->error, [&] {
    mb::api::require(text, "text");
    if (!ids && count) mb::fail(mb::Status::kInvalidArgument, "ids is NULL");
    std::vector<int32_t> v(ids, ids + count);
    tokenizer->text = tokenizer->tokenizer->decode(v, skip_special_tokens != 0);
    *text = tokenizer->text.c_str();
    if (length) *length = tokenizer->text.size();
  });
}

int32_t mb_tokenizer_token_to_id(const mb_tokenizer* tokenizer, const char* token) {
  if (!tokenizer || !token) return -1;
  return tokenizer->tokenizer->token_to_id(token);
}

const char* mb_tokenizer_id_to_token(const mb_tokenizer* tokenizer, int32_t id) {
  if (!tokenizer) return nullptr;
  const std::string* t = tokenizer->tokenizer->id_to_token(id);
  return t ? t->c_str() : nullptr;
}

mb_status mb_tokenizer_info(mb_tokenizer* tokenizer, const char** json) {
  if (!tokenizer) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "tokenizer is NULL"); });
  return mb::api::guarded(&tokenizer->error, [&] {
    mb::api::require(json, "json");
    const mb::Tokenizer& t = *tokenizer->tokenizer;
    mb::json::Value v = mb::json::Value::object();
    v.set("source", t.source());
    v.set("vocab_size", int64_t{t.vocab_size()});
    v.set("bos_token", t.bos_token());
    v.set("eos_token", t.eos_token());
    mb::json::Value eos = mb::json::Value::array();
    for (int32_t id : t.eos_token_ids()) eos.push(int64_t{id});
    v.set("eos_token_ids", std::move(eos));
    v.set("has_chat_template", !t.chat_template().empty());
    tokenizer->info_json = mb::json::dump(v);
    *json = tokenizer->info_json.c_str();
  });
}

mb_status mb_tokenizer_apply_chat_template(mb_tokenizer* tokenizer, const char* messages_json, int add_generation_prompt,
                                           const char* variables_json, const char** text) {
  if (!tokenizer) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "tokenizer is NULL"); });
  return mb::api::guarded(&tokenizer->error, [&] {
    mb::api::require(messages_json, "messages_json");
    mb::api::require(text, "text");
    mb::json::Value messages = mb::json::parse(messages_json, "messages_json");
    mb::json::Value variables = variables_json ? mb::json::parse(variables_json, "variables_json") : mb::json::Value();
    tokenizer->text = tokenizer->tokenizer->apply_chat_template(messages, add_generation_prompt != 0, variables);
    *text = tokenizer->text.c_str();
  });
}

mb_status mb_decode_stream_begin(mb_decode_stream** out, mb_tokenizer* tokenizer, int skip_special_tokens) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(out, "out");
    *out = nullptr;
    mb::api::require(tokenizer, "tokenizer");
    auto handle = std::make_unique<mb_decode_stream>();
    handle->stream = std::make_unique<mb::DecodeStream>(*tokenizer->tokenizer, skip_special_tokens != 0);
    *out = handle.release();
  });
}

mb_status mb_decode_stream_step(mb_decode_stream* stream, int32_t id, const char** text, size_t* length) {
  if (!stream) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "stream is NULL"); });
  return mb::api::guarded(&stream->error, [&] {
    mb::api::require(text, "text");
    stream->text = stream->stream->step(id);
    *text = stream->text.c_str();
    if (length) *length = stream->text.size();
  });
}

mb_status mb_decode_stream_finish(mb_decode_stream* stream, const char** text, size_t* length) {
  if (!stream) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "stream is NULL"); });
  return mb::api::guarded(&stream->error, [&] {
    mb::api::require(text, "text");
    stream->text = stream->stream->finish();
    *text = stream->text.c_str();
    if (length) *length = stream->text.size();
  });
}

void mb_decode_stream_free(mb_decode_stream* stream) { delete stream; }
