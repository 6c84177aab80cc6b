// C ABI: mb_model (weights on a backend), mb_forward, mb_generate (include/mbridge.h, "running a model").
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "api/api_bridge_handle.h"
#include "api/api_guard.h"
#include "api/api_tokenizer_handle.h"
#include "engine/image_processor.h"
#include "engine/model.h"
#include "mbridge.h"

struct mb_model {
  std::unique_ptr<mb::engine::Model> engine;
  std::string error;
  std::vector<float> logits;              // the last mb_forward
  std::vector<int32_t> generated;         // the last mb_generate, sequences back to back
  std::vector<size_t> generated_lengths;
  std::vector<std::string> texts;         // the last mb_generate_text
  std::vector<const char*> text_pointers;
};

namespace {

mb::engine::GenerateOptions generate_options(const mb_generate_options* options) {
  mb::api::check_struct_size(options, sizeof(mb_generate_options), "mb_generate_options");
  const mb_generate_options o = options ? *options : mb_generate_default_options();
  mb::engine::GenerateOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.sampling.temperature = o.temperature;
  g.sampling.top_k = o.top_k;
  g.sampling.top_p = o.top_p;
  g.sampling.seed = o.seed;
  if (o.stop_count) {
    mb::api::require(o.stop_ids, "stop_ids");
    g.stop_ids.assign(o.stop_ids, o.stop_ids + o.stop_count);
  }
  return g;
}

// Generates and keeps the new tokens in the handle (sequences back to back, and their lengths).
void run_generation(mb_model* model, const std::vector<std::vector<int32_t>>& input, const mb::engine::GenerateOptions& g,
                    mb_token_fn on_token, void* user_data) {
  mb::engine::TokenCallback callback;
  if (on_token)
    callback = [&](size_t sequence, int64_t step, int32_t token, const float*) {
      return on_token(sequence, step, token, user_data) != 0;
    };
  auto out = model->engine->generate(input, g, callback);
  model->generated.clear();
  model->generated_lengths.clear();
  for (const auto& seq : out) {
    model->generated.insert(model->generated.end(), seq.begin(), seq.end());
    model->generated_lengths.push_back(seq.size());
  }
}

}  // namespace

mb_load_options mb_load_default_options(void) {
  mb_load_options o{};
  o.struct_size = sizeof(mb_load_options);
  o.device = MB_DEVICE_CPU;
  o.tp = 1;
  o.pp = 1;
  return o;
}

mb_generate_options mb_generate_default_options(void) {
  mb_generate_options o{};
  o.struct_size = sizeof(mb_generate_options);
  o.max_new_tokens = 16;
  o.top_p = 1.0;
  return o;
}

mb_status mb_load_weights(mb_model** out, mb_bridge* bridge, const mb_load_options* options) {
  return mb::api::guarded(nullptr, [&] {
    mb::api::require(out, "out");
    *out = nullptr;
    mb::api::require(bridge, "bridge");
    mb::api::check_struct_size(options, offsetof(mb_load_options, tp), "mb_load_options");
    mb_load_options o = mb_load_default_options();
    if (options) std::memcpy(&o, options, std::min<size_t>(options->struct_size, sizeof o));  // (older: no tp, pp)
    o.struct_size = sizeof o;
    std::string device;
    if (o.device == MB_DEVICE_CPU) device = "cpu";
    else if (o.device == MB_DEVICE_CUDA) device = o.device_index < 0 ? "cuda" : "cuda:" + std::to_string(o.device_index);
    else mb::fail(mb::Status::kInvalidArgument, "unknown device type ", static_cast<int>(o.device));
    auto handle = std::make_unique<mb_model>();
    mb::engine::ParallelOptions parallel;
    parallel.tp = o.tp;
    parallel.pp = o.pp;
    parallel.expert_parallel = o.expert_parallel != 0;
    parallel.one_process_per_rank = o.one_process_per_rank != 0;
    if (parallel.one_process_per_rank && o.device == MB_DEVICE_CUDA) device = "cuda";
    handle->engine = mb::engine::load_model(*bridge->source, device, parallel);
    *out = handle.release();
  });
}

void mb_model_free(mb_model* model) { delete model; }

const char* mb_model_errmsg(const mb_model* model) { return model ? model->error.c_str() : "NULL model"; }

int64_t mb_model_vocab_size(const mb_model* model) { return model ? model->engine->config().vocab_size : -1; }

mb_status mb_forward(mb_model* model, const int32_t* ids, size_t count, const float** logits) {
  if (!model) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "model is NULL"); });
  return mb::api::guarded(&model->error, [&] {
    mb::api::require(logits, "logits");
    if (!ids || count == 0) mb::fail(mb::Status::kInvalidArgument, "mb_forward needs at least one token id");
    model->logits = model->engine->forward(std::vector<int32_t>(ids, ids + count));
    *logits = model->logits.data();
  });
}

mb_status mb_generate(mb_model* model, const int32_t* const* prompts, const size_t* prompt_lengths, size_t count,
                      const mb_generate_options* options, mb_token_fn on_token, void* user_data,
                      const int32_t** generated, const size_t** generated_lengths) {
  if (!model) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "model is NULL"); });
  return mb::api::guarded(&model->error, [&] {
    mb::api::require(generated, "generated");
    mb::api::require(generated_lengths, "generated_lengths");
    if (count > 0) {
      mb::api::require(prompts, "prompts");
      mb::api::require(prompt_lengths, "prompt_lengths");
    }
    const mb::engine::GenerateOptions g = generate_options(options);
    std::vector<std::vector<int32_t>> input(count);
    for (size_t s = 0; s < count; ++s) {
      if (!prompts[s] && prompt_lengths[s]) mb::fail(mb::Status::kInvalidArgument, "prompts[", s, "] is NULL");
      input[s].assign(prompts[s], prompts[s] + prompt_lengths[s]);
    }
    run_generation(model, input, g, on_token, user_data);
    *generated = model->generated.data();
    *generated_lengths = model->generated_lengths.data();
  });
}

mb_status mb_generate_with_images(mb_model* model, const int32_t* prompt, size_t prompt_length,
                                  const char* const* image_paths, size_t image_count, const char* processor_dir,
                                  const mb_generate_options* options, mb_token_fn on_token, void* user_data,
                                  const int32_t** generated, size_t* generated_length) {
  if (!model) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "model is NULL"); });
  return mb::api::guarded(&model->error, [&] {
    mb::api::require(generated, "generated");
    mb::api::require(generated_length, "generated_length");
    if (!prompt || prompt_length == 0) mb::fail(mb::Status::kInvalidArgument, "the prompt needs at least one token id");
    if (image_count > 0) mb::api::require(image_paths, "image_paths");
    mb::engine::GenerateOptions g = generate_options(options);
    const mb::engine::ImageProcessor processor(model->engine->config(), processor_dir ? processor_dir : "");
    std::vector<mb::engine::Image> images;
    for (size_t i = 0; i < image_count; ++i) {
      if (!image_paths[i]) mb::fail(mb::Status::kInvalidArgument, "image_paths[", i, "] is NULL");
      images.push_back(processor.load(image_paths[i]));
    }
    const std::vector<int32_t> ids = processor.expand(std::vector<int32_t>(prompt, prompt + prompt_length), images);
    g.images = {std::move(images)};
    run_generation(model, {ids}, g, on_token, user_data);
    *generated = model->generated.data();
    *generated_length = model->generated_lengths[0];
  });
}

mb_status mb_generate_text(mb_model* model, mb_tokenizer* tokenizer, const char* const* prompts, size_t count,
                           const mb_generate_options* options, mb_token_fn on_token, void* user_data,
                           const char* const** texts) {
  if (!model) return mb::api::guarded(nullptr, [] { mb::fail(mb::Status::kInvalidArgument, "model is NULL"); });
  return mb::api::guarded(&model->error, [&] {
    mb::api::require(texts, "texts");
    mb::api::require(tokenizer, "tokenizer");
    if (count > 0) mb::api::require(prompts, "prompts");
    mb::engine::GenerateOptions g = generate_options(options);
    if (g.stop_ids.empty()) g.stop_ids = tokenizer->tokenizer->eos_token_ids();
    std::vector<std::vector<int32_t>> input(count);
    for (size_t s = 0; s < count; ++s) {
      if (!prompts[s]) mb::fail(mb::Status::kInvalidArgument, "prompts[", s, "] is NULL");
      input[s] = tokenizer->tokenizer->encode(prompts[s]);
    }
    run_generation(model, input, g, on_token, user_data);
    model->texts.clear();
    size_t at = 0;
    for (size_t length : model->generated_lengths) {
      std::vector<int32_t> ids(model->generated.begin() + static_cast<std::ptrdiff_t>(at),
                               model->generated.begin() + static_cast<std::ptrdiff_t>(at + length));
      model->texts.push_back(tokenizer->tokenizer->decode(ids, true));
      at += length;
    }
    model->text_pointers.clear();
    for (const std::string& t : model->texts) model->text_pointers.push_back(t.c_str());
    *texts = model->text_pointers.data();
  });
}
