/* The C ABI used from C, against include/mbridge.h alone, linked to the shared library.
 * usage: test_c_api FIXTURES_DIR SCRATCH_DIR */
#include <mbridge.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      ++failures;                                                                \
    }                                                                            \
  } while (0)

static char path_buf[4096];
static const char *join(const char *a, const char *b) {
  snprintf(path_buf, sizeof(path_buf), "%s/%s", a, b);
  return path_buf;
}

static int log_calls = 0;
static void on_log(mb_log_level level, const char *message, void *user) {
  (void)level;
  (void)message;
  ++*(int *)user;
}

static int progress_calls = 0;
static int on_progress(const char *stage, uint64_t done, uint64_t total, void *user) {
  (void)stage;
  (void)user;
  CHECK(done <= total);
  ++progress_calls;
  return 0;
}
static int cancel_at_once(const char *stage, uint64_t done, uint64_t total, void *user) {
  (void)stage;
  (void)done;
  (void)total;
  (void)user;
  return 1;
}

/* The bridge: open a model, describe it, stream it, convert it both ways, verify. */
/* A copy of the Hugging Face model in `model` whose config.json claims one layer fewer than its weights hold
 * (the weights are linked, not copied): streaming it must end in an error naming the unused tensors. */
static int make_model_with_unused_tensors(const char *model, const char *dir) {
  char path[8192], text[16384];
  snprintf(path, sizeof(path), "%s/config.json", model);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(text, 1, sizeof(text) - 1, f);
  fclose(f);
  text[n] = 0;
  char *layers = strstr(text, "\"num_hidden_layers\": 4");
  if (!layers || mkdir(dir, 0755) != 0) return 0;
  layers[strlen("\"num_hidden_layers\": ")] = '3';
  snprintf(path, sizeof(path), "%s/config.json", dir);
  f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(text, 1, n, f);
  fclose(f);
  char weights[8192];
  snprintf(weights, sizeof(weights), "%s/model.safetensors", model);
  snprintf(path, sizeof(path), "%s/model.safetensors", dir);
  return symlink(weights, path) == 0;
}

static void test_bridge(const char *fixtures, const char *scratch) {
  char model[4096], unsupported[4096], megatron[4096], back[4096];
  snprintf(model, sizeof(model), "%s/bridge/hf/qwen3", fixtures);
  snprintf(unsupported, sizeof(unsupported), "%s/foundation/torch/values.describe.json", fixtures);
  snprintf(megatron, sizeof(megatron), "%s/megatron", scratch);
  snprintf(back, sizeof(back), "%s/hf_back", scratch);

  CHECK(strstr(mb_list_supported(), "Qwen3MoeForCausalLM") != NULL);
  int ok = -1;
  const char *reason = NULL;
  CHECK(mb_can_handle(model, &ok, &reason) == MB_OK && ok == 1);
  CHECK(mb_can_handle(unsupported, &ok, &reason) == MB_OK && ok == 0);
  CHECK(reason && strstr(reason, "not supported") != NULL);

  mb_bridge *b = NULL;
  CHECK(mb_bridge_open(&b, "/nonexistent/model", NULL) == MB_ERR_NOT_FOUND && b == NULL);
  CHECK(mb_bridge_open(&b, model, NULL) == MB_OK);
  if (!b) return;
  const char *info = NULL;
  CHECK(mb_bridge_info(b, &info) == MB_OK);
  CHECK(info && strstr(info, "\"family\":\"qwen3\"") && strstr(info, "\"qk_layernorm\":true") &&
        strstr(info, "\"num_query_groups\":4"));

  /* stream the Hugging Face tensors and check one against the file */
  mb_checkpoint *ck = NULL;
  CHECK(mb_checkpoint_open(&ck, model, NULL) == MB_OK);
  mb_export *it = NULL;
  CHECK(mb_export_begin(&it, b, MB_TARGET_HF) == MB_OK);
  int count = 0, matched = 0;
  mb_tensor_view v;
  mb_status st;
  while ((st = mb_export_next(it, &v)) == MB_OK) {
    ++count;
    mb_tensor_view f;
    if (ck && mb_checkpoint_read(ck, v.name, MB_DTYPE_KEEP, &f) == MB_OK && f.nbytes == v.nbytes &&
        memcmp(f.data, v.data, v.nbytes) == 0)
      ++matched;
  }
  CHECK(st == MB_DONE);
  CHECK(count == mb_checkpoint_tensor_count(ck) && matched == count);
  CHECK(mb_export_next(it, &v) == MB_DONE);
  mb_export_free(it);
  CHECK(mb_export_begin(&it, b, MB_TARGET_MEGATRON) == MB_OK);
  CHECK(mb_export_next(it, &v) == MB_OK && strcmp(v.name, "embedding.word_embeddings.weight") == 0);
  CHECK(mb_export_next(it, &v) == MB_OK && strcmp(v.name, "decoder.layers.0.self_attention.linear_qkv.layer_norm_weight") == 0);
  mb_export_free(it);
  mb_checkpoint_free(ck);
  mb_bridge_free(b);

  /* a stream that fails stays failed (it has moved past the parameter); unused tensors are an error */
  char fewer[4096];
  snprintf(fewer, sizeof(fewer), "%s/fewer_layers", scratch);
  CHECK(make_model_with_unused_tensors(model, fewer));
  CHECK(mb_bridge_open(&b, fewer, NULL) == MB_OK);
  if (b) {
    CHECK(mb_export_begin(&it, b, MB_TARGET_HF) == MB_OK);
    while ((st = mb_export_next(it, &v)) == MB_OK) {
    }
    CHECK(st == MB_ERR_FORMAT);
    CHECK(strstr(mb_export_errmsg(it), "model.layers.3.") != NULL);
    CHECK(mb_export_next(it, &v) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "model.layers.3.") != NULL);
    mb_export_free(it);
    mb_bridge_free(b);
  }

  /* one-call conversions: HF -> Megatron (legacy, TP2 PP2) -> HF, verified */
  mb_convert_options o = mb_convert_default_options();
  o.format = MB_FORMAT_MEGATRON_LEGACY;
  o.tp = 2;
  o.pp = 2;
  CHECK(mb_import_ckpt(model, megatron, &o) == MB_OK);
  CHECK(mb_import_ckpt(model, megatron, &o) == MB_ERR_INVALID_ARGUMENT); /* not empty */
  CHECK(strstr(mb_last_error(), "not empty") != NULL);
  CHECK(mb_export_ckpt(megatron, back, NULL) == MB_OK);
  /* an export takes the options an import was given (format and layout do not apply to it) */
  char back32[4096];
  snprintf(back32, sizeof(back32), "%s/hf_back_f32", scratch);
  mb_convert_options to_f32 = o;
  to_f32.format = MB_FORMAT_SAFETENSORS;
  to_f32.dtype = MB_DTYPE_F32;
  CHECK(mb_export_ckpt(megatron, back32, &to_f32) == MB_OK);
  mb_checkpoint *f32 = NULL;
  CHECK(mb_checkpoint_open(&f32, back32, NULL) == MB_OK);
  mb_tensor_view first;
  CHECK(f32 && mb_checkpoint_tensor_info(f32, 0, &first) == MB_OK && first.dtype == MB_DTYPE_F32);
  mb_checkpoint_free(f32);
  int equal = 0;
  const char *report = NULL;
  CHECK(mb_verify(model, megatron, &equal, &report) == MB_OK && equal == 1);
  CHECK(mb_verify(model, back, &equal, &report) == MB_OK && equal == 1);
  CHECK(report && strstr(report, "\"equal\":true") != NULL);
  o.tp = 3; /* 3 does not divide 8 heads */
  char bad[4096];
  snprintf(bad, sizeof(bad), "%s/bad_layout", scratch);
  CHECK(mb_import_ckpt(model, bad, &o) == MB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mb_last_error(), "tensor parallel 3") != NULL);
}

/* Expected ids and texts below come from Hugging Face tokenizers 0.23.2 (its Node binding) on the same file. */
static void test_tokenizer(const char *fixtures, const char *scratch) {
  mb_tokenizer *tok = NULL;
  CHECK(mb_tokenizer_load(&tok, "/nonexistent/tokenizer.json") == MB_ERR_NOT_FOUND);
  CHECK(tok == NULL && strstr(mb_last_error(), "/nonexistent/tokenizer.json") != NULL);
  CHECK(mb_tokenizer_load(&tok, join(fixtures, "bridge/hf/llama31")) == MB_OK);
  if (!tok) return;
  const int32_t *ids = NULL;
  size_t count = 0;
  CHECK(mb_tokenizer_encode(tok, "a b c</s>", 9, 1, &ids, &count) == MB_OK);
  const int32_t want[] = {3, 21, 4, 21, 5, 1};
  CHECK(count == 6 && memcmp(ids, want, sizeof(want)) == 0);
  int32_t copy[6];
  memcpy(copy, ids, sizeof(copy));
  const char *text = NULL;
  size_t length = 0;
  CHECK(mb_tokenizer_decode(tok, copy, 6, 0, &text, &length) == MB_OK);
  CHECK(text && strcmp(text, "a b c</s>") == 0 && length == 9);
  CHECK(mb_tokenizer_decode(tok, copy, 6, 1, &text, NULL) == MB_OK);
  CHECK(text && strcmp(text, "a b c") == 0);
  CHECK(mb_tokenizer_encode(tok, "h\xc3\xa9llo", 6, 1, &ids, &count) == MB_OK); /* no token for the e-acute: dropped */
  CHECK(count == 3 && ids[0] == 10 && ids[1] == 12 && ids[2] == 38);
  CHECK(mb_tokenizer_encode(tok, "bad \xff", 5, 1, &ids, &count) == MB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mb_tokenizer_errmsg(tok), "UTF-8") != NULL);
  CHECK(mb_tokenizer_token_to_id(tok, "</s>") == 1);
  CHECK(mb_tokenizer_token_to_id(tok, "no such token") == -1);
  CHECK(mb_tokenizer_id_to_token(tok, 1) && strcmp(mb_tokenizer_id_to_token(tok, 1), "</s>") == 0);
  CHECK(mb_tokenizer_id_to_token(tok, 1 << 30) == NULL);
  const char *info = NULL;
  CHECK(mb_tokenizer_info(tok, &info) == MB_OK);
  CHECK(info && strstr(info, "\"eos_token\":\"</s>\"") != NULL);

  CHECK(mb_tokenizer_apply_chat_template(tok, "[{\"role\": \"user\", \"content\": \"hi\"}]", 1, NULL, &text) ==
        MB_ERR_NOT_FOUND); /* this folder has no chat template */

  /* a folder with a chat template: the fixture's tokenizer.json and a one-line template */
  char folder[2100], link_to[2200];
  snprintf(folder, sizeof(folder), "%.2048s/chat", scratch);
  mkdir(folder, 0755);
  snprintf(link_to, sizeof(link_to), "%s/tokenizer.json", folder);
  CHECK(symlink(join(fixtures, "bridge/hf/llama31/tokenizer.json"), link_to) == 0);
  char config_path[2200];
  snprintf(config_path, sizeof(config_path), "%s/tokenizer_config.json", folder);
  FILE *config = fopen(config_path, "w");
  if (config) {
    fputs("{\"bos_token\": \"<s>\", \"chat_template\": \"{{ bos_token }}{% for m in messages %}[{{ m.role }}] "
          "{{ m.content | trim }}\\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}\"}", config);
    fclose(config);
  }
  mb_tokenizer *chat = NULL;
  CHECK(mb_tokenizer_load(&chat, folder) == MB_OK);
  if (chat) {
    CHECK(mb_tokenizer_apply_chat_template(chat, "[{\"role\": \"user\", \"content\": \" hi \"}]", 1, NULL, &text) == MB_OK);
    CHECK(text && strcmp(text, "<s>[user] hi\n[assistant]") == 0);
    CHECK(mb_tokenizer_apply_chat_template(chat, "not json", 0, NULL, &text) == MB_ERR_FORMAT);
  }
  mb_tokenizer_free(chat);

  mb_decode_stream *stream = NULL;
  CHECK(mb_decode_stream_begin(&stream, tok, 0) == MB_OK);
  char joined[64] = "";
  for (int i = 0; i < 6 && stream; ++i) {
    CHECK(mb_decode_stream_step(stream, want[i], &text, NULL) == MB_OK);
    strncat(joined, text, sizeof(joined) - strlen(joined) - 1);
  }
  if (stream) CHECK(mb_decode_stream_finish(stream, &text, NULL) == MB_OK);
  strncat(joined, text, sizeof(joined) - strlen(joined) - 1);
  CHECK(strcmp(joined, "a b c</s>") == 0);
  mb_decode_stream_free(stream);
  mb_tokenizer_free(tok);
  mb_tokenizer_free(NULL);
}

/* Running a model on the CPU backend: logits equal the ones transformers computed (read back through the
 * checkpoint API), greedy generation equals argmax of recomputed logits, options and errors. */
static int generated_calls = 0;
static int count_tokens(size_t sequence, int64_t step, int32_t token, void *user) {
  (void)sequence, (void)step, (void)token, (void)user;
  ++generated_calls;
  return 1;
}

static void test_model(const char *fixtures) {
  mb_bridge *bridge = NULL;
  CHECK(mb_bridge_open(&bridge, join(fixtures, "bridge/hf/llama31"), NULL) == MB_OK);
  if (!bridge) return;
  mb_model *model = NULL;
  mb_load_options lo = mb_load_default_options();
  lo.device = MB_DEVICE_CUDA;
  if (mb_cuda_device_count() > 0) { /* the GPU machine */
    CHECK(mb_load_weights(&model, bridge, &lo) == MB_OK && model != NULL);
    mb_model_free(model);
    model = NULL;
  } else { /* a build without CUDA, or no GPU to run it on */
    const mb_status st = mb_load_weights(&model, bridge, &lo);
    CHECK((st == MB_ERR_UNSUPPORTED || st == MB_ERR_CUDA) && model == NULL);
  }
  CHECK(mb_load_weights(&model, bridge, NULL) == MB_OK);
  mb_bridge_free(bridge); /* the model keeps what it needs */
  if (!model) return;
  const int64_t vocab = mb_model_vocab_size(model);
  CHECK(vocab == 256);

  mb_checkpoint *ref = NULL;
  CHECK(mb_checkpoint_open(&ref, join(fixtures, "bridge/hf/llama31.logits.safetensors"), NULL) == MB_OK);
  if (ref) {
    mb_tensor_view ids_view, logits_view;
    CHECK(mb_checkpoint_read(ref, "input_ids", MB_DTYPE_KEEP, &ids_view) == MB_OK);
    int32_t ids[64];
    size_t n = (size_t)ids_view.shape[1];
    for (size_t i = 0; i < n && i < 64; ++i) ids[i] = (int32_t)((const int64_t *)ids_view.data)[i];
    const float *logits = NULL;
    CHECK(mb_forward(model, ids, n, &logits) == MB_OK);
    CHECK(mb_checkpoint_read(ref, "logits", MB_DTYPE_F32, &logits_view) == MB_OK);
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; logits && i < n * (size_t)vocab; ++i) {
      double want = ((const float *)logits_view.data)[i], diff = logits[i] - want;
      if (diff < 0) diff = -diff;
      if (want < 0) want = -want;
      if (diff > max_diff) max_diff = diff;
      if (want > max_ref) max_ref = want;
    }
    CHECK(max_ref > 0 && max_diff / max_ref < 1e-4);
    mb_checkpoint_free(ref);
  }

  int32_t prompt_a[] = {1, 17, 42}, prompt_b[] = {5};
  const int32_t *prompts[] = {prompt_a, prompt_b};
  size_t lengths[] = {3, 1};
  mb_generate_options go = mb_generate_default_options();
  go.max_new_tokens = 6;
  const int32_t *generated = NULL;
  const size_t *generated_lengths = NULL;
  int32_t first[6] = {0};
  CHECK(mb_generate(model, prompts, lengths, 2, &go, count_tokens, NULL, &generated, &generated_lengths) == MB_OK);
  CHECK(generated_lengths && generated_lengths[0] == 6 && generated_lengths[1] == 6 && generated_calls == 12);
  if (generated && generated_lengths) {
    int32_t seq[16] = {1, 17, 42};
    memcpy(first, generated, sizeof(first));
    for (int step = 0; step < 6; ++step) { /* greedy: the argmax of the logits of the sequence so far */
      const float *logits = NULL;
      CHECK(mb_forward(model, seq, (size_t)(3 + step), &logits) == MB_OK);
      if (!logits) break;
      const float *last = logits + (size_t)(2 + step) * (size_t)vocab;
      int32_t best = 0;
      for (int32_t v = 1; v < vocab; ++v)
        if (last[v] > last[best]) best = v;
      CHECK(first[step] == best);
      seq[3 + step] = best;
    }
    go.stop_ids = &first[1];
    go.stop_count = 1;
    CHECK(mb_generate(model, prompts, lengths, 1, &go, NULL, NULL, &generated, &generated_lengths) == MB_OK);
    CHECK(generated_lengths[0] <= 2 && generated[generated_lengths[0] - 1] == first[1]);
  }
  size_t empty = 0;
  CHECK(mb_generate(model, prompts, &empty, 1, &go, NULL, NULL, &generated, &generated_lengths) == MB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mb_model_errmsg(model), "empty") != NULL);

  /* text in, text out: what encoding, mb_generate and decoding give */
  mb_tokenizer *tok = NULL;
  CHECK(mb_tokenizer_load(&tok, join(fixtures, "bridge/hf/llama31")) == MB_OK);
  if (tok) {
    const char *inputs[] = {"hello world", "megatron and hugging face"};
    const char *const *texts = NULL;
    int32_t eos = mb_tokenizer_token_to_id(tok, "</s>");
    mb_generate_options to = mb_generate_default_options();
    to.max_new_tokens = 5;
    to.stop_ids = &eos;
    to.stop_count = 1;
    CHECK(mb_generate_text(model, tok, inputs, 2, &to, NULL, NULL, &texts) == MB_OK);
    char got[2][256] = {{0}};
    for (int s = 0; s < 2 && texts; ++s) snprintf(got[s], sizeof got[s], "%s", texts[s]);
    for (int s = 0; s < 2 && texts; ++s) {
      const int32_t *ids = NULL;
      size_t n = 0;
      CHECK(mb_tokenizer_encode(tok, inputs[s], strlen(inputs[s]), 1, &ids, &n) == MB_OK);
      int32_t prompt[64];
      if (!ids || n > 64) break;
      memcpy(prompt, ids, n * sizeof(int32_t));
      const int32_t *one[] = {prompt};
      CHECK(mb_generate(model, one, &n, 1, &to, NULL, NULL, &generated, &generated_lengths) == MB_OK);
      const char *want = NULL;
      CHECK(mb_tokenizer_decode(tok, generated, generated_lengths[0], 1, &want, NULL) == MB_OK);
      CHECK(want && strcmp(want, got[s]) == 0);
    }
    CHECK(mb_generate_text(model, NULL, inputs, 1, &to, NULL, NULL, &texts) == MB_ERR_INVALID_ARGUMENT);
    mb_tokenizer_free(tok);
  }
  mb_model_free(model);
  mb_model_free(NULL);
}

/* A tensor- and pipeline-parallel run (TP2 x PP2, threads of this process) generates what one rank does; a
 * caller built before mb_load_options had tp and pp (a smaller struct_size) gets one rank; sizes that do not
 * divide the model are refused. */
static void test_parallel_model(const char *fixtures) {
  mb_bridge *bridge = NULL;
  CHECK(mb_bridge_open(&bridge, join(fixtures, "bridge/hf/llama31"), NULL) == MB_OK);
  if (!bridge) return;
  mb_model *one = NULL, *four = NULL, *old = NULL, *bad = NULL;
  CHECK(mb_load_weights(&one, bridge, NULL) == MB_OK);
  mb_load_options lo = mb_load_default_options();
  CHECK(lo.tp == 1 && lo.pp == 1 && lo.expert_parallel == 0 && lo.one_process_per_rank == 0);
  lo.tp = 2;
  lo.pp = 2;
  CHECK(mb_load_weights(&four, bridge, &lo) == MB_OK);
  mb_load_options older = lo;
  older.struct_size = (uint32_t)offsetof(mb_load_options, tp);
  CHECK(mb_load_weights(&old, bridge, &older) == MB_OK);
  lo.tp = 3;
  CHECK(mb_load_weights(&bad, bridge, &lo) == MB_ERR_INVALID_ARGUMENT && bad == NULL);
  CHECK(strstr(mb_last_error(), "tensor parallel 3") != NULL);
  lo.tp = 2;
  lo.one_process_per_rank = 1; /* no launcher started this process */
  CHECK(mb_load_weights(&bad, bridge, &lo) == MB_ERR_INVALID_ARGUMENT && bad == NULL);
  CHECK(strstr(mb_last_error(), "launcher") != NULL);
  mb_bridge_free(bridge);
  int32_t prompt[] = {1, 17, 42};
  const int32_t *prompts[] = {prompt};
  size_t length = 3;
  mb_generate_options go = mb_generate_default_options();
  go.max_new_tokens = 8;
  int32_t want[8] = {0};
  const int32_t *generated = NULL;
  const size_t *generated_lengths = NULL;
  if (one && mb_generate(one, prompts, &length, 1, &go, NULL, NULL, &generated, &generated_lengths) == MB_OK)
    memcpy(want, generated, sizeof want);
  else
    CHECK(0);
  mb_model *models[] = {four, old};
  for (int m = 0; m < 2; ++m) {
    CHECK(models[m] && mb_generate(models[m], prompts, &length, 1, &go, NULL, NULL, &generated, &generated_lengths) == MB_OK);
    CHECK(generated && generated_lengths[0] == 8 && memcmp(generated, want, sizeof want) == 0);
  }
  mb_model_free(one);
  mb_model_free(four);
  mb_model_free(old);
}

/* A prompt with an image file (Qwen2.5-VL, tests/fixtures/vlm): the fixture's third greedy prompt, its run of
 * image tokens cut to one as a chat template writes it, gives transformers' 16 tokens; errors for a wrong count
 * of image tokens, a file that is no image, and a model without images. */
static void test_images(const char *fixtures) {
  enum { kImageToken = 251 }; /* image_token_id of the fixture's config.json */
  mb_bridge *bridge = NULL;
  CHECK(mb_bridge_open(&bridge, join(fixtures, "vlm/qwen2_5_vl"), NULL) == MB_OK);
  mb_model *model = NULL;
  if (bridge) CHECK(mb_load_weights(&model, bridge, NULL) == MB_OK);
  mb_bridge_free(bridge);
  mb_checkpoint *ref = NULL;
  CHECK(mb_checkpoint_open(&ref, join(fixtures, "vlm/qwen2_5_vl.greedy.safetensors"), NULL) == MB_OK);
  if (!model || !ref) {
    mb_model_free(model);
    mb_checkpoint_free(ref);
    return;
  }
  mb_tensor_view prompt_view, greedy_view;
  CHECK(mb_checkpoint_read(ref, "prompt_2", MB_DTYPE_KEEP, &prompt_view) == MB_OK);
  int32_t prompt[256];
  size_t n = 0;
  for (int64_t i = 0; i < prompt_view.shape[1] && n < 256; ++i) {
    const int32_t id = (int32_t)((const int64_t *)prompt_view.data)[i];
    if (id == kImageToken && n > 0 && prompt[n - 1] == kImageToken) continue;
    prompt[n++] = id;
  }
  int64_t want[16];
  CHECK(mb_checkpoint_read(ref, "greedy_2", MB_DTYPE_KEEP, &greedy_view) == MB_OK);
  for (int i = 0; i < 16; ++i) want[i] = ((const int64_t *)greedy_view.data)[i];
  char image[4096], dir[4096], config[4096]; /* (join's buffer is shared) */
  snprintf(image, sizeof(image), "%s", join(fixtures, "vlm/images/square.jpg"));
  snprintf(dir, sizeof(dir), "%s", join(fixtures, "vlm/qwen2_5_vl"));
  snprintf(config, sizeof(config), "%s", join(fixtures, "vlm/qwen2_5_vl/config.json"));
  const char *images[] = {image};
  const int32_t *generated = NULL;
  size_t count = 0;
  mb_generate_options o = mb_generate_default_options();
  CHECK(mb_generate_with_images(model, prompt, n, images, 1, dir, &o, NULL, NULL, &generated, &count) == MB_OK);
  CHECK(count == 16);
  for (size_t i = 0; generated && i < count && i < 16; ++i) CHECK(generated[i] == want[i]);

  int32_t two[] = {5, kImageToken, kImageToken, 6};
  CHECK(mb_generate_with_images(model, two, 4, images, 1, dir, &o, NULL, NULL, &generated, &count) ==
        MB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mb_model_errmsg(model), "image tokens") != NULL);
  const char *not_an_image[] = {config};
  CHECK(mb_generate_with_images(model, prompt, n, not_an_image, 1, dir, &o, NULL, NULL, &generated, &count) ==
        MB_ERR_FORMAT);
  CHECK(strstr(mb_model_errmsg(model), "config.json") != NULL);
  mb_checkpoint_free(ref);
  mb_model_free(model);

  bridge = NULL;
  model = NULL;
  CHECK(mb_bridge_open(&bridge, join(fixtures, "bridge/hf/llama31"), NULL) == MB_OK);
  if (bridge) CHECK(mb_load_weights(&model, bridge, NULL) == MB_OK);
  mb_bridge_free(bridge);
  if (model) {
    CHECK(mb_generate_with_images(model, prompt, n, images, 1, NULL, &o, NULL, NULL, &generated, &count) ==
          MB_ERR_UNSUPPORTED);
    mb_model_free(model);
  }
}

/* The files of a folder packed into a bundle and back, a bundle opened as a model (the same stream, the same
 * logits as the folder), and the stream as compressed tensor frames decoded on the other side. */
static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

static int cancel_pack(const char *stage, uint64_t done, uint64_t total, void *user) {
  (void)done;
  (void)total;
  (void)user;
  return strcmp(stage, "pack") == 0 || strcmp(stage, "unpack") == 0 ? 1 : 0;
}

static void test_bundle(const char *fixtures, const char *scratch) {
  char model[4096], bundle[4096], unpacked[4096], cancelled[4096], a[8300], b[8300];
  snprintf(model, sizeof(model), "%s/bridge/hf/qwen3", fixtures);
  snprintf(bundle, sizeof(bundle), "%s/qwen3.mbz", scratch);
  snprintf(unpacked, sizeof(unpacked), "%s/qwen3_unpacked", scratch);
  snprintf(cancelled, sizeof(cancelled), "%s/cancelled.mbz", scratch);

  mb_pack_options po = mb_pack_default_options();
  CHECK(po.level == 3 && po.tensor_level == 1 && po.chunk_bytes == 4u << 20 && po.threads == 0);
  po.chunk_bytes = 4096; /* several chunks per tensor */
  CHECK(mb_bundle_pack(model, bundle, &po) == MB_OK);
  CHECK(mb_bundle_pack(model, bundle, &po) == MB_ERR_INVALID_ARGUMENT); /* exists */
  po.progress = cancel_pack;
  struct stat sb;
  CHECK(mb_bundle_pack(model, cancelled, &po) == MB_ERR_CANCELLED);
  CHECK(stat(cancelled, &sb) != 0);
  CHECK(mb_bundle_unpack(bundle, unpacked, &po) == MB_ERR_CANCELLED);
  CHECK(stat(unpacked, &sb) != 0);
  CHECK(mb_bundle_unpack(bundle, unpacked, NULL) == MB_OK);
  const char *files[] = {"config.json", "generation_config.json", "model.safetensors"};
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); ++i) {
    snprintf(a, sizeof(a), "%s/%s", model, files[i]);
    snprintf(b, sizeof(b), "%s/%s", unpacked, files[i]);
    CHECK(same_file(a, b));
  }

  /* the bundle as a model: the same tensors as the folder, streamed and as frames */
  mb_bridge *from_folder = NULL, *from_bundle = NULL;
  CHECK(mb_bridge_open(&from_folder, model, NULL) == MB_OK);
  CHECK(mb_bridge_open(&from_bundle, bundle, NULL) == MB_OK);
  if (!from_folder || !from_bundle) {
    fprintf(stderr, "bundle open failed: %s\n", mb_last_error());
    mb_bridge_free(from_folder);
    return;
  }
  const char *info = NULL;
  CHECK(mb_bridge_info(from_bundle, &info) == MB_OK && info && strstr(info, "\"family\":\"qwen3\"") != NULL);
  mb_export_options eo = mb_export_default_options();
  CHECK(eo.target == MB_TARGET_HF && eo.frame_level == 1 && eo.threads == 0);
  eo.threads = 2;
  mb_export *fa = NULL, *fb = NULL;
  CHECK(mb_export_begin(&fa, from_folder, MB_TARGET_HF) == MB_OK);
  CHECK(mb_export_begin_with_options(&fb, from_bundle, &eo) == MB_OK);
  int count = 0, same = 0, frames_ok = 0;
  mb_tensor_view va, vb;
  const void *frame = NULL;
  size_t frame_size = 0, frame_bytes = 0, raw_bytes = 0;
  void *keep_frame = NULL;
  size_t keep_size = 0;
  mb_status st;
  while ((st = mb_export_next(fa, &va)) == MB_OK) {
    ++count;
    if (mb_export_next_frame(fb, &vb, &frame, &frame_size) != MB_OK) break;
    if (strcmp(va.name, vb.name) == 0 && va.nbytes == vb.nbytes && va.dtype == vb.dtype &&
        (va.nbytes == 0 || memcmp(va.data, vb.data, va.nbytes) == 0))
      ++same;
    /* the receiving side: only the frame */
    mb_tensor_view fi;
    if (mb_frame_info(frame, frame_size, &fi) == MB_OK && strcmp(fi.name, va.name) == 0 && fi.dtype == va.dtype &&
        fi.ndim == va.ndim && fi.nbytes == va.nbytes && fi.data == NULL && memcmp(fi.shape, va.shape, sizeof(va.shape)) == 0) {
      void *decoded = malloc(fi.nbytes ? fi.nbytes : 1);
      if (mb_frame_decode(frame, frame_size, decoded, fi.nbytes, 0) == MB_OK && memcmp(decoded, va.data, va.nbytes) == 0)
        ++frames_ok;
      free(decoded);
    }
    frame_bytes += frame_size;
    raw_bytes += va.nbytes;
    if (strcmp(va.name, "model.embed_tokens.weight") == 0) {
      keep_frame = malloc(frame_size);
      memcpy(keep_frame, frame, frame_size);
      keep_size = frame_size;
    }
  }
  CHECK(st == MB_DONE);
  CHECK(count > 30 && same == count && frames_ok == count);
  CHECK(frame_bytes < raw_bytes);
  CHECK(mb_export_next_frame(fb, &vb, &frame, &frame_size) == MB_DONE && frame == NULL && frame_size == 0);
  CHECK(mb_export_next_frame(fb, &vb, NULL, &frame_size) == MB_ERR_INVALID_ARGUMENT);
  mb_export_free(fa);
  mb_export_free(fb);
  eo.frame_level = 99;
  CHECK(mb_export_begin_with_options(&fb, from_bundle, &eo) == MB_ERR_INVALID_ARGUMENT && fb == NULL);

  /* damaged and truncated frames are refused */
  CHECK(keep_frame != NULL && keep_size > 64);
  if (keep_frame) {
    unsigned char *bytes = (unsigned char *)keep_frame;
    mb_tensor_view fi;
    CHECK(mb_frame_info(keep_frame, keep_size - 1, &fi) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "truncated") != NULL);
    void *decoded = malloc(256 * 32 * 2);
    CHECK(mb_frame_decode(keep_frame, keep_size, decoded, 7, 0) == MB_ERR_INVALID_ARGUMENT); /* wrong size */
    bytes[20] ^= 1; /* in the header: its checksum no longer matches */
    CHECK(mb_frame_info(keep_frame, keep_size, &fi) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "header checksum") != NULL);
    bytes[20] ^= 1;
    CHECK(mb_frame_info(keep_frame, keep_size, &fi) == MB_OK);
    free(decoded);
    free(keep_frame);
  }

  /* weights loaded from the bundle give the folder's logits */
  mb_model *ma = NULL, *mbm = NULL;
  CHECK(mb_load_weights(&ma, from_folder, NULL) == MB_OK);
  CHECK(mb_load_weights(&mbm, from_bundle, NULL) == MB_OK);
  if (ma && mbm) {
    const int32_t ids[] = {1, 17, 42, 5};
    const float *la = NULL, *lb = NULL;
    CHECK(mb_forward(ma, ids, 4, &la) == MB_OK);
    CHECK(mb_forward(mbm, ids, 4, &lb) == MB_OK);
    const int64_t vocab = mb_model_vocab_size(ma);
    CHECK(vocab > 0 && la && lb && memcmp(la, lb, (size_t)(4 * vocab) * sizeof(float)) == 0);
  }
  mb_model_free(ma);
  mb_model_free(mbm);
  mb_bridge_free(from_folder);
  mb_bridge_free(from_bundle);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FIXTURES_DIR SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  /* absolute, so that the symlinks made below into scratch point at the fixtures from any directory */
  char *fixtures = realpath(argv[1], NULL);
  if (!fixtures) {
    fprintf(stderr, "no fixtures directory %s\n", argv[1]);
    return 2;
  }
  char scratch[2048];
  mkdir(argv[2], 0755);
  snprintf(scratch, sizeof(scratch), "%s/c_api-%d", argv[2], (int)getpid()); /* fresh for every run */
  mkdir(scratch, 0755);

  /* library */
  CHECK(strcmp(mb_version(), MB_VERSION_STRING) == 0);
  CHECK(mb_version_number() == MB_VERSION_NUMBER);
  CHECK(strcmp(mb_status_string(MB_ERR_FORMAT), "malformed file") == 0);
  CHECK(strcmp(mb_dtype_name(MB_DTYPE_BF16), "BF16") == 0);
  CHECK(mb_dtype_size(MB_DTYPE_F8_E4M3) == 1);
  CHECK(mb_dtype_name((mb_dtype)99) == NULL);
  CHECK(mb_cuda_device_count() >= 0);
  mb_set_log_callback(on_log, MB_LOG_DEBUG, &log_calls);

  /* errors: status, thread-local message naming the file, NULL-safe free */
  mb_checkpoint *ck = NULL;
  mb_status st = mb_checkpoint_open(&ck, "/nonexistent/model", NULL);
  CHECK(st == MB_ERR_NOT_FOUND);
  CHECK(ck == NULL);
  CHECK(strstr(mb_last_error(), "/nonexistent/model") != NULL);
  mb_checkpoint_free(NULL);
  CHECK(mb_checkpoint_open(NULL, "x", NULL) == MB_ERR_INVALID_ARGUMENT);

  mb_open_options old = mb_open_default_options();
  old.struct_size = 4; /* older than any released struct */
  CHECK(mb_checkpoint_open(&ck, fixtures, &old) == MB_ERR_INVALID_ARGUMENT);

  /* open a sharded Hugging Face folder, list, read */
  mb_open_options opts = mb_open_default_options();
  opts.verify_checksums = 1;
  st = mb_checkpoint_open(&ck, join(fixtures, "foundation/hf_tiny_llama_sharded"), &opts);
  CHECK(st == MB_OK);
  if (st != MB_OK) {
    fprintf(stderr, "open failed: %s\n", mb_last_error());
    return 1;
  }
  CHECK(mb_checkpoint_format(ck) == MB_FORMAT_SAFETENSORS);
  int64_t n = mb_checkpoint_tensor_count(ck);
  CHECK(n == 21);
  mb_tensor_view v;
  CHECK(mb_checkpoint_tensor_info(ck, 0, &v) == MB_OK);
  CHECK(v.data == NULL && v.ndim >= 1 && v.name != NULL);
  CHECK(mb_checkpoint_tensor_info(ck, n, &v) == MB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(mb_checkpoint_errmsg(ck), "out of range") != NULL);

  CHECK(mb_checkpoint_read(ck, "model.embed_tokens.weight", MB_DTYPE_KEEP, &v) == MB_OK);
  CHECK(v.dtype == MB_DTYPE_BF16 && v.ndim == 2 && v.shape[0] == 128 && v.shape[1] == 32 && v.nbytes == 128 * 32 * 2);
  CHECK(v.data != NULL);
  uint16_t first_bf16 = 0;
  if (v.data) memcpy(&first_bf16, v.data, 2);
  CHECK(mb_checkpoint_read(ck, "model.embed_tokens.weight", MB_DTYPE_F32, &v) == MB_OK);
  CHECK(v.dtype == MB_DTYPE_F32 && v.nbytes == 128 * 32 * 4);
  if (v.data) {
    uint32_t bits;
    memcpy(&bits, v.data, 4);
    CHECK(bits == ((uint32_t)first_bf16 << 16)); /* bf16 -> f32 is exact */
  }
  CHECK(mb_checkpoint_read(ck, "no.such.tensor", MB_DTYPE_KEEP, &v) == MB_ERR_NOT_FOUND);
  CHECK(strstr(mb_checkpoint_errmsg(ck), "no.such.tensor") != NULL);

  const char *info = NULL;
  CHECK(mb_checkpoint_info_json(ck, &info) == MB_OK);
  CHECK(info && strstr(info, "\"format\":\"safetensors\"") != NULL);

  /* transcode to torch_dist and back, compare bit for bit */
  mb_write_options w = mb_write_default_options();
  w.format = MB_FORMAT_TORCH_DIST;
  w.files = 2;
  w.chunks = 2;
  w.progress = on_progress;
  char dist[4096], back[4096], cancelled[4096];
  snprintf(dist, sizeof(dist), "%s/dist", scratch);
  snprintf(back, sizeof(back), "%s/back", scratch);
  snprintf(cancelled, sizeof(cancelled), "%s/cancelled", scratch);
  CHECK(mb_checkpoint_write(ck, dist, &w) == MB_OK);
  CHECK(progress_calls > 0);
  CHECK(mb_checkpoint_write(ck, dist, &w) == MB_ERR_INVALID_ARGUMENT); /* exists */

  w.progress = cancel_at_once;
  CHECK(mb_checkpoint_write(ck, cancelled, &w) == MB_ERR_CANCELLED);
  struct stat sb;
  CHECK(stat(cancelled, &sb) != 0); /* nothing left behind */

  mb_checkpoint *d = NULL;
  CHECK(mb_checkpoint_open(&d, dist, NULL) == MB_OK);
  if (d) {
    CHECK(mb_checkpoint_format(d) == MB_FORMAT_TORCH_DIST);
    mb_write_options w2 = mb_write_default_options();
    w2.format = MB_FORMAT_SAFETENSORS;
    w2.max_shard_bytes = 20000;
    CHECK(mb_checkpoint_write(d, back, &w2) == MB_OK);
    mb_checkpoint *b = NULL;
    CHECK(mb_checkpoint_open(&b, back, NULL) == MB_OK);
    int equal = 0;
    const char *report = NULL;
    CHECK(mb_checkpoint_compare(ck, b, &equal, &report) == MB_OK);
    CHECK(equal == 1);
    CHECK(report && strstr(report, "\"different\":[]") != NULL);
    /* a checkpoint with other tensors differs */
    mb_checkpoint *other = NULL;
    CHECK(mb_checkpoint_open(&other, join(fixtures, "foundation/torch/dtypes.pt"), NULL) == MB_OK);
    CHECK(mb_checkpoint_compare(ck, other, &equal, &report) == MB_OK);
    CHECK(equal == 0);
    mb_checkpoint_free(other);
    mb_checkpoint_free(b);
    mb_checkpoint_free(d);
  }
  mb_checkpoint_free(ck);

  /* a malformed file: MB_ERR_FORMAT naming it */
  char bad[4096];
  snprintf(bad, sizeof(bad), "%s/bad.safetensors", scratch);
  FILE *f = fopen(bad, "wb");
  if (f) {
    fwrite("\x10\0\0\0\0\0\0\0{\"a\":{\"dtype\":1}}", 1, 24, f);
    fclose(f);
  }
  CHECK(mb_checkpoint_open(&ck, bad, NULL) == MB_ERR_FORMAT);
  CHECK(strstr(mb_last_error(), bad) != NULL);
  mb_set_log_callback(NULL, MB_LOG_INFO, NULL);
  test_bridge(fixtures, scratch);
  test_tokenizer(fixtures, scratch);
  test_model(fixtures);
  test_parallel_model(fixtures);
  test_images(fixtures);
  test_bundle(fixtures, scratch);
  free(fixtures);

  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("C ABI: all checks passed\n");
  return failures ? 1 : 0;
}
