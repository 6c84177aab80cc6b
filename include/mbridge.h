/*
 * mbridge — LLM checkpoints between Hugging Face and Megatron, without Python.
 *
 * The whole public C ABI. Conventions:
 *  - Every function that can fail returns mb_status (MB_OK == 0, errors < 0). The reason — naming the
 *    file, tensor and cause — is kept per thread (mb_last_error) and, for calls on a handle, on the
 *    handle too (mb_checkpoint_errmsg), because some hosts (Go) move work between OS threads.
 *  - Objects are opaque handles made by an open/create function and released by one free function,
 *    which accepts NULL. Open/begin functions take their out-parameter first; other calls take theirs
 *    last; `void *user_data` always comes last.
 *  - Option structs start with `struct_size`; get one from its *_default_options() function, change
 *    the fields you need and pass a pointer. Newer library versions accept older (smaller) structs.
 *  - No C++ exception crosses this boundary and the library never aborts the host process.
 *  - Pointers returned to the caller say how long they stay valid, next to each function.
 *  - Thread safety: functions without a handle are thread-safe. A handle may be used from one thread
 *    at a time; different handles are independent.
 */
#ifndef MBRIDGE_H
#define MBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MB_API __attribute__((visibility("default")))
#else
#define MB_API
#endif

#define MB_VERSION_MAJOR 0
#define MB_VERSION_MINOR 1
#define MB_VERSION_PATCH 0
#define MB_VERSION_STRING "0.1.0"
/* MB_VERSION_NUMBER == mb_version_number() for the library this header belongs to */
#define MB_VERSION_NUMBER (MB_VERSION_MAJOR * 10000 + MB_VERSION_MINOR * 100 + MB_VERSION_PATCH)

#define MB_MAX_DIMS 8

typedef enum mb_status {
  MB_OK = 0,
  MB_DONE = 1,                  /* an iteration has no more items */
  MB_ERR_INVALID_ARGUMENT = -1, /* a bad argument or option */
  MB_ERR_IO = -2,               /* reading or writing a file failed */
  MB_ERR_FORMAT = -3,           /* a file is malformed, truncated or hostile */
  MB_ERR_UNSUPPORTED = -4,      /* valid, but not something mbridge handles (yet) */
  MB_ERR_NOT_FOUND = -5,        /* no such file, tensor or key */
  MB_ERR_OUT_OF_MEMORY = -6,
  MB_ERR_CANCELLED = -7,        /* a progress callback asked to stop */
  MB_ERR_CUDA = -8,             /* a CUDA or NCCL call failed */
  MB_ERR_INTERNAL = -9,         /* a bug in mbridge: please report it */
  MB_ERR_ACCESS_DENIED = -10,   /* the Hugging Face Hub refused the request: gated or private model, bad token */
  MB_ERR_NETWORK = -11          /* the Hugging Face Hub could not be reached, or a transfer failed */
} mb_status;

/* Element types; the names are the safetensors ones. */
typedef enum mb_dtype {
  MB_DTYPE_F64 = 0,
  MB_DTYPE_F32 = 1,
  MB_DTYPE_F16 = 2,
  MB_DTYPE_BF16 = 3,
  MB_DTYPE_F8_E4M3 = 4, /* torch.float8_e4m3fn */
  MB_DTYPE_F8_E5M2 = 5,
  MB_DTYPE_I64 = 6,
  MB_DTYPE_I32 = 7,
  MB_DTYPE_I16 = 8,
  MB_DTYPE_I8 = 9,
  MB_DTYPE_U8 = 10,
  MB_DTYPE_BOOL = 11,
  MB_DTYPE_KEEP = -1 /* in options: leave the dtype as it is */
} mb_dtype;

typedef enum mb_device_type { MB_DEVICE_CPU = 0, MB_DEVICE_CUDA = 1 } mb_device_type;

typedef enum mb_log_level { MB_LOG_DEBUG = 0, MB_LOG_INFO = 1, MB_LOG_WARNING = 2, MB_LOG_ERROR = 3 } mb_log_level;

/* Checkpoint formats. */
typedef enum mb_format {
  MB_FORMAT_AUTO = 0,           /* decide from the files */
  MB_FORMAT_SAFETENSORS = 1,    /* a .safetensors file, or a Hugging Face folder (with an index when sharded) */
  MB_FORMAT_TORCH = 2,          /* a torch.save .pt file */
  MB_FORMAT_TORCH_DIST = 3,     /* Megatron-Core torch_dist (torch.distributed.checkpoint layout) */
  MB_FORMAT_MEGATRON_LEGACY = 4 /* Megatron-LM mp_rank_XX/model_optim_rng.pt files */
} mb_format;

/* A tensor as the library hands it out. `data` is NULL when only the description was asked for. */
typedef struct mb_tensor_view {
  const char *name;
  mb_dtype dtype;
  int32_t ndim;
  int64_t shape[MB_MAX_DIMS];
  const void *data; /* contiguous, row-major, little-endian */
  uint64_t nbytes;
  mb_device_type device;
  int32_t device_index;
} mb_tensor_view;

/* Receives every log message at or above the level given to mb_set_log_callback. May be called from
 * any thread; must not call back into mbridge. */
typedef void (*mb_log_fn)(mb_log_level level, const char *message, void *user_data);

/* Reports progress of long work (`done` of `total` units, e.g. bytes). Return non-zero to cancel:
 * the running call then stops, cleans up what it wrote, and returns MB_ERR_CANCELLED. */
typedef int (*mb_progress_fn)(const char *stage, uint64_t done, uint64_t total, void *user_data);

/* ---- library -------------------------------------------------------------------------------------- */

MB_API const char *mb_version(void);   /* "0.1.0"; static storage */
MB_API int mb_version_number(void);    /* major*10000 + minor*100 + patch */
MB_API const char *mb_status_string(mb_status status); /* static storage */
/* The message of the last failed call on this thread; "" when none. Valid until the next mbridge call
 * on this thread. */
MB_API const char *mb_last_error(void);
MB_API const char *mb_dtype_name(mb_dtype dtype); /* "BF16"; NULL for an unknown value */
MB_API size_t mb_dtype_size(mb_dtype dtype);      /* 0 for an unknown value */
/* Installs (or, with fn NULL, removes) the process-wide log callback. */
MB_API void mb_set_log_callback(mb_log_fn fn, mb_log_level min_level, void *user_data);
/* Number of CUDA devices usable by this build (0 for a CPU-only build or a machine without a GPU). */
MB_API int mb_cuda_device_count(void);

/* ---- checkpoint files, any format ------------------------------------------------------------------- */

typedef struct mb_checkpoint mb_checkpoint;

typedef struct mb_open_options {
  uint32_t struct_size;     /* sizeof(mb_open_options) */
  mb_format format;         /* MB_FORMAT_AUTO */
  int32_t verify_checksums; /* non-zero: check the CRC-32 of every zip entry (reads all bytes once); 0: don't */
} mb_open_options;

MB_API mb_open_options mb_open_default_options(void);

/* Opens a checkpoint: a file or folder in any supported format. Files are mapped, not read: opening is
 * fast and uses little memory whatever the model's size. */
MB_API mb_status mb_checkpoint_open(mb_checkpoint **out, const char *path, const mb_open_options *options);
MB_API void mb_checkpoint_free(mb_checkpoint *checkpoint);
/* The last error of a call on this handle ("" when none). Valid until the next call on the handle. */
MB_API const char *mb_checkpoint_errmsg(const mb_checkpoint *checkpoint);
MB_API mb_format mb_checkpoint_format(const mb_checkpoint *checkpoint);
/* A JSON object: {"format", "path", "tensors", "bytes", "details": {format-specific facts}}.
 * *json stays valid until the next call on this handle. */
MB_API mb_status mb_checkpoint_info_json(mb_checkpoint *checkpoint, const char **json);
MB_API int64_t mb_checkpoint_tensor_count(const mb_checkpoint *checkpoint);
/* Describes tensor `index` (0-based; names in the format's order); out->data is NULL. The name stays
 * valid until the handle is freed. */
MB_API mb_status mb_checkpoint_tensor_info(mb_checkpoint *checkpoint, int64_t index, mb_tensor_view *out);
/* Reads a tensor by name, converted to `dtype` unless MB_DTYPE_KEEP. out->data stays valid until the
 * next mb_checkpoint_read on this handle or mb_checkpoint_free. Zero-copy when no conversion is needed
 * and the format stores the tensor contiguously. */
MB_API mb_status mb_checkpoint_read(mb_checkpoint *checkpoint, const char *name, mb_dtype dtype, mb_tensor_view *out);

typedef struct mb_write_options {
  uint32_t struct_size;      /* sizeof(mb_write_options) */
  mb_format format;          /* the format to write (MB_FORMAT_SAFETENSORS) */
  uint64_t max_shard_bytes;  /* safetensors: split into shards of at most this many bytes (5e9) */
  int32_t files;             /* torch_dist: number of .distcp files (1) */
  int32_t chunks;            /* torch_dist: chunks per tensor, along its first dimension (1) */
  mb_dtype dtype;            /* cast floating-point tensors to this dtype (MB_DTYPE_KEEP) */
  mb_progress_fn progress;   /* optional */
  void *user_data;           /* passed to progress */
} mb_write_options;

MB_API mb_write_options mb_write_default_options(void);

/* Writes every tensor of `checkpoint` to `out_path` (which must not exist) in options->format, one tensor
 * at a time. Nothing is left at out_path when it fails or is cancelled. Names are kept as they are:
 * this changes the file format, not the model's layout (that is mbridge import/export). */
MB_API mb_status mb_checkpoint_write(mb_checkpoint *checkpoint, const char *out_path, const mb_write_options *options);

/* Compares every tensor of a and b by name, bit for bit. *equal is 1 when both hold the same names with
 * identical dtypes, shapes and bytes. *report_json (optional) lists the tensors that differ or exist on
 * one side only; it stays valid until the next call on `a`. */
MB_API mb_status mb_checkpoint_compare(mb_checkpoint *a, mb_checkpoint *b, int *equal, const char **report_json);

/* ---- models: Hugging Face folders and Megatron checkpoints ----------------------------------------------
 * Supported families: mb_list_supported(). A Hugging Face folder holds config.json and safetensors weights;
 * a Megatron checkpoint is torch_dist or legacy (mp_rank_*), at any tensor/pipeline/expert parallelism. */

typedef struct mb_bridge mb_bridge;

typedef struct mb_bridge_options {
  uint32_t struct_size; /* sizeof(mb_bridge_options) */
  const char *hf_model; /* Megatron checkpoints: config.json (or its folder) describing the model; NULL: the one
                           mbridge stored at import, else the checkpoint's Megatron args */
  const char *family;   /* Megatron checkpoints without a stored config: the family to read it as (NULL: guessed) */
  /* Added in 0.1 with Hub ids: progress of a Hugging Face Hub download (stage "download <org/name>", bytes) */
  mb_progress_fn progress;
  void *user_data;
} mb_bridge_options;

MB_API mb_bridge_options mb_bridge_default_options(void);
MB_API mb_status mb_bridge_open(mb_bridge **out, const char *path, const mb_bridge_options *options);
MB_API void mb_bridge_free(mb_bridge *bridge);
MB_API const char *mb_bridge_errmsg(const mb_bridge *bridge);
/* {"family", "architecture", "path", "source", "transformer_config": {Megatron-Core TransformerConfig fields,
 *  padded_vocab_size}, "hf_config": {...}, "layout": {"tp","pp","vpp","ep","spec"}, "megatron_parameters",
 *  "parameter_count", ...}; valid until the next call on this handle. */
MB_API mb_status mb_bridge_info(mb_bridge *bridge, const char **json);
/* {"families": [{"family", "architectures", "description"}]}; static storage. */
MB_API const char *mb_list_supported(void);
/* Whether a Hugging Face config.json (or the folder holding it) describes a supported model; *reason says why
 * not (valid until the next mbridge call on this thread). */
MB_API mb_status mb_can_handle(const char *config_path, int *supported, const char **reason);

/* Streaming: one converted tensor at a time, without materialising the model. */
typedef enum mb_target {
  MB_TARGET_HF = 0,      /* Hugging Face tensors (model.layers.N.self_attn.q_proj.weight, ...) */
  MB_TARGET_MEGATRON = 1 /* full Megatron parameters (decoder.layers.N.self_attention.linear_qkv.weight, ...) */
} mb_target;

typedef struct mb_export mb_export;
/* The iterator keeps `bridge` in use: free the iterator first. */
MB_API mb_status mb_export_begin(mb_export **out, mb_bridge *bridge, mb_target target);
/* MB_OK with the next tensor (out->name and out->data valid until the next call or mb_export_free), MB_DONE
 * after the last one, or an error. Order: embedding, layer by layer (expert by expert), final norm, output.
 * After the last tensor, a Hugging Face source is checked for tensors no parameter used: that is an error
 * (MB_ERR_FORMAT, naming them) instead of MB_DONE. An iterator that returned an error keeps returning it.
 * MB_TARGET_MEGATRON names parameters as the Transformer Engine spec does. Views are always CPU memory. */
MB_API mb_status mb_export_next(mb_export *it, mb_tensor_view *out);
MB_API void mb_export_free(mb_export *it);
MB_API const char *mb_export_errmsg(const mb_export *it);

/* Streaming to another process: each tensor also as one self-contained "tensor frame" (its name, dtype and
 * shape, and its bytes split into byte planes and compressed with zstd in independent chunks, each with the
 * CRC-32 of its bytes; docs/formats.md). The receiver needs only mb_frame_info and mb_frame_decode. */
typedef struct mb_export_options {
  uint32_t struct_size; /* sizeof(mb_export_options) */
  mb_target target;     /* MB_TARGET_HF */
  int32_t frame_level;  /* zstd level of the frames, 1..22 (1) */
  int32_t threads;      /* threads compressing a tensor's chunks; 0: every core (0) */
} mb_export_options;

MB_API mb_export_options mb_export_default_options(void);
/* mb_export_begin with options (NULL: the defaults). */
MB_API mb_status mb_export_begin_with_options(mb_export **out, mb_bridge *bridge, const mb_export_options *options);
/* As mb_export_next, and *frame (*frame_size bytes) is the same tensor as a tensor frame; valid until the next
 * call on the iterator or mb_export_free. */
MB_API mb_status mb_export_next_frame(mb_export *it, mb_tensor_view *out, const void **frame, size_t *frame_size);
/* Checks a frame's header and describes its tensor: out->name points into `frame` (valid as long as it),
 * out->nbytes is what decoding gives, out->data is NULL. MB_ERR_FORMAT for a damaged or truncated frame. */
MB_API mb_status mb_frame_info(const void *frame, size_t frame_size, mb_tensor_view *out);
/* Decodes a frame into dst, which must be the tensor's nbytes long, checking every chunk's CRC-32 (chunks are
 * decoded on `threads` threads; 0: every core). MB_ERR_FORMAT for a damaged frame. Thread-safe. */
MB_API mb_status mb_frame_decode(const void *frame, size_t frame_size, void *dst, size_t dst_size, int32_t threads);

/* ---- bundles ---------------------------------------------------------------------------------------------
 * A bundle (.mbz) holds every file of a model folder or Megatron checkpoint (weights, configs, tokenizer files,
 * index, iter_ folders...) in one file, losslessly compressed: tensor data split into byte planes and compressed
 * with zstd in independent chunks, other bytes compressed as they are, every chunk with a CRC-32
 * (docs/formats.md). mb_bridge_open (and every one-call conversion) reads a bundle in place, decoding tensors
 * when they are read; mb_bundle_unpack gives the files back bit for bit. */
typedef struct mb_pack_options {
  uint32_t struct_size;   /* sizeof(mb_pack_options) */
  int32_t level;          /* zstd level of other bytes (headers, JSON, pickles), 1..22 (3) */
  int32_t tensor_level;   /* zstd level of tensor data, 1..22 (1: on byte planes it beats 3 in size and speed) */
  uint64_t chunk_bytes;   /* bytes per independently compressed chunk, at most 64 MiB (4 MiB) */
  int32_t threads;        /* 0: every core (0) */
  mb_progress_fn progress; /* optional: stage "pack" or "unpack", in bytes; may cancel */
  void *user_data;
} mb_pack_options;

MB_API mb_pack_options mb_pack_default_options(void);
/* Packs every file under `folder` into `bundle_path` (which must not exist; it appears only when complete). */
MB_API mb_status mb_bundle_pack(const char *folder, const char *bundle_path, const mb_pack_options *options);
/* Writes the files of a bundle into `folder` (which must not exist; it appears only when every file is written
 * and checked). Uses threads, progress and user_data. A damaged bundle is MB_ERR_FORMAT, naming the file and
 * tensor. */
MB_API mb_status mb_bundle_unpack(const char *bundle_path, const char *folder, const mb_pack_options *options);

/* One-call conversions. */
typedef struct mb_convert_options {
  uint32_t struct_size;       /* sizeof(mb_convert_options) */
  mb_format format;           /* Megatron output: MB_FORMAT_TORCH_DIST (default) or MB_FORMAT_MEGATRON_LEGACY */
  int32_t tp, pp, vpp, ep;    /* Megatron output layout (1, 1, 1, 1) */
  int32_t local_spec;         /* 0: Transformer Engine module names (Megatron-LM's default), 1: local spec */
  mb_dtype dtype;             /* cast every tensor (MB_DTYPE_KEEP) */
  int64_t iteration;          /* Megatron output: iteration folder (0) */
  int64_t vocab_divisible_by; /* pad the vocabulary to a multiple of this * tp (1) */
  uint64_t max_shard_bytes;   /* Hugging Face output: safetensors shard size (5e9) */
  const char *hf_model;       /* Megatron input: config.json describing the model (NULL: stored / args) */
  const char *family;         /* Megatron input without a stored config: family (NULL: guessed) */
  int32_t allow_unused;       /* Hugging Face input: skip tensors no parameter uses instead of failing */
  mb_progress_fn progress;
  void *user_data;
} mb_convert_options;

MB_API mb_convert_options mb_convert_default_options(void);
/* Hugging Face folder -> Megatron checkpoint (megatron_path must not exist or be empty). */
MB_API mb_status mb_import_ckpt(const char *hf_path, const char *megatron_path, const mb_convert_options *options);
/* Megatron checkpoint -> Hugging Face folder (hf_path must not exist): safetensors, config.json, tokenizer files.
 * Uses dtype, max_shard_bytes, hf_model, family and progress; the Megatron format and layout fields are ignored. */
MB_API mb_status mb_export_ckpt(const char *megatron_path, const char *hf_path, const mb_convert_options *options);
/* Megatron checkpoint -> Megatron checkpoint in another layout or format (a Hugging Face folder is accepted as
 * the source too, as by mb_import_ckpt). */
MB_API mb_status mb_reshard_ckpt(const char *megatron_path, const char *out_path, const mb_convert_options *options);
/* Two models (any two of Hugging Face folders and Megatron checkpoints) compared parameter by parameter:
 * *equal is 1 when every parameter agrees; *report_json (optional) lists each one. The report stays valid
 * until the next mbridge call on this thread. */
MB_API mb_status mb_verify(const char *a, const char *b, int *equal, const char **report_json);

/* ---- running a model ------------------------------------------------------------------------------------
 * The weights of an opened model (Hugging Face folder or Megatron checkpoint of any layout) loaded onto a
 * backend, logits for token sequences, and generation. Backends: MB_DEVICE_CPU, the float32 reference (exact,
 * slow; what CI runs) and MB_DEVICE_CUDA (bf16 weights on one GPU, float32 accumulation; MB_ERR_UNSUPPORTED in a
 * build without CUDA, MB_ERR_CUDA on a machine without a GPU). */

typedef struct mb_model mb_model;

typedef struct mb_load_options {
  uint32_t struct_size;  /* sizeof(mb_load_options) */
  mb_device_type device; /* MB_DEVICE_CPU (default) or MB_DEVICE_CUDA */
  int device_index;      /* which GPU, for MB_DEVICE_CUDA; with tp * pp > 1, -1: rank r on GPU r (NCCL), N >= 0:
                            every rank on GPU N (collectives staged through host memory) */
  /* Parallel runs (either backend): tp tensor-parallel ranks x pp pipeline stages, threads of this process, each
   * holding only its part of the weights, sliced from whatever layout the bridge's model has; expert_parallel
   * (non-zero, with tp > 1): each rank holds whole experts of a mixture instead of columns of every one.
   * 1, 1, 0 by default; callers built before these fields existed get that. */
  int32_t tp, pp;
  int32_t expert_parallel;
  /* Non-zero: this process is one rank of a run its launcher started, one process per rank (torchrun, mpirun,
   * srun: rank, world size and local rank from their environment variables; the ranks meet at MASTER_ADDR:
   * MASTER_PORT, default 127.0.0.1:29500). The world size must be tp * pp; with MB_DEVICE_CUDA each rank takes
   * GPU LOCAL_RANK (device_index is ignored) and NCCL connects them; on the CPU they compute over TCP. Every
   * rank must make the same calls; on_token callbacks are asked on rank 0 only. */
  int32_t one_process_per_rank;
} mb_load_options;

MB_API mb_load_options mb_load_default_options(void);
/* Reads every parameter of the bridge's model; the bridge may be freed afterwards. */
MB_API mb_status mb_load_weights(mb_model **out, mb_bridge *bridge, const mb_load_options *options);
MB_API void mb_model_free(mb_model *model);
MB_API const char *mb_model_errmsg(const mb_model *model);
MB_API int64_t mb_model_vocab_size(const mb_model *model); /* -1 for NULL */
/* Logits of one sequence (positions 0..count-1): *logits is count x vocab_size float32, row by row, valid until
 * the next call on this handle. */
MB_API mb_status mb_forward(mb_model *model, const int32_t *ids, size_t count, const float **logits);

typedef struct mb_generate_options {
  uint32_t struct_size;     /* sizeof(mb_generate_options) */
  int64_t max_new_tokens;   /* 16 */
  double temperature;       /* 0: greedy (argmax) */
  int64_t top_k;            /* 0: no limit */
  double top_p;             /* 1: no limit */
  uint64_t seed;            /* sampling is reproducible for a seed */
  const int32_t *stop_ids;  /* a sequence ends after one of these (e.g. eos ids from generation_config.json) */
  size_t stop_count;
} mb_generate_options;

/* Called for every generated token as it is chosen; return 0 to end that sequence, nonzero to go on. */
typedef int (*mb_token_fn)(size_t sequence, int64_t step, int32_t token, void *user_data);

MB_API mb_generate_options mb_generate_default_options(void);
/* Generates for `count` prompts (prompts[i] has prompt_lengths[i] ids, at least one). *generated holds every
 * sequence's new ids one after another and *generated_lengths how many each has; both stay valid until the next
 * call on this handle. on_token may be NULL. */
MB_API mb_status mb_generate(mb_model *model, const int32_t *const *prompts, const size_t *prompt_lengths, size_t count,
                             const mb_generate_options *options, mb_token_fn on_token, void *user_data,
                             const int32_t **generated, const size_t **generated_lengths);

/* One prompt with images, for a vision-language model (LLaVA, Qwen2.5-VL), as `mbridge generate --image` runs
 * it: each PNG or JPEG file decoded and prepared as the model's processor does, with the settings of
 * processor_dir/preprocessor_config.json (processor_dir NULL, or a folder without that file: the processor's
 * defaults); the prompt's image tokens expanded, the prompt having either one per image, in order (what chat
 * templates write for {"type": "image"} content parts; see mb_tokenizer_apply_chat_template) or already one per
 * token each image fills; then generation as mb_generate does for one sequence (on_token's sequence is 0).
 * *generated (*generated_length ids) stays valid until the next call on this handle. MB_ERR_UNSUPPORTED for a
 * model that takes no images; MB_ERR_FORMAT for a file that is not a readable PNG or JPEG, naming it. */
MB_API mb_status mb_generate_with_images(mb_model *model, const int32_t *prompt, size_t prompt_length,
                                         const char *const *image_paths, size_t image_count, const char *processor_dir,
                                         const mb_generate_options *options, mb_token_fn on_token, void *user_data,
                                         const int32_t **generated, size_t *generated_length);

typedef struct mb_tokenizer mb_tokenizer;
/* Text in, text out: each prompt (UTF-8, NUL-terminated) encoded with the tokenizer (special tokens added, as
 * mb_tokenizer_encode does), generated as mb_generate does — with the tokenizer's eos ids as stop ids when
 * options->stop_count is 0 — and each sequence's new tokens decoded without special tokens. (*texts)[i] is
 * sequence i's text; they stay valid until the next call on this handle. */
MB_API mb_status mb_generate_text(mb_model *model, mb_tokenizer *tokenizer, const char *const *prompts, size_t count,
                                  const mb_generate_options *options, mb_token_fn on_token, void *user_data,
                                  const char *const **texts);

/* ---- tokenizers ----------------------------------------------------------------------------------------
 * Hugging Face tokenizer.json files (byte-level BPE and SentencePiece-style BPE with byte fallback), run as
 * the `tokenizers` library runs them: the same ids, the same decoded text. Text is UTF-8 with an explicit
 * length (it may contain NUL bytes); invalid UTF-8 is refused with MB_ERR_INVALID_ARGUMENT. */

/* path: a tokenizer.json file, or a folder holding one (its tokenizer_config.json and generation_config.json
 * are read too when present: chat template, bos/eos tokens, eos ids). */
MB_API mb_status mb_tokenizer_load(mb_tokenizer **out, const char *path);
MB_API void mb_tokenizer_free(mb_tokenizer *tokenizer);
MB_API const char *mb_tokenizer_errmsg(const mb_tokenizer *tokenizer);
/* *ids (*count of them) stay valid until the next call on this handle. add_special_tokens: 1 adds what the
 * post-processor adds (BOS for Llama), as tokenizers' encode does by default. */
MB_API mb_status mb_tokenizer_encode(mb_tokenizer *tokenizer, const char *text, size_t length, int add_special_tokens,
                                     const int32_t **ids, size_t *count);
/* *text (NUL-terminated; *length bytes before the NUL, length may be NULL) stays valid until the next call
 * on this handle. Ids without a token are left out, as tokenizers does. */
MB_API mb_status mb_tokenizer_decode(mb_tokenizer *tokenizer, const int32_t *ids, size_t count, int skip_special_tokens,
                                     const char **text, size_t *length);
MB_API int32_t mb_tokenizer_token_to_id(const mb_tokenizer *tokenizer, const char *token); /* -1: no such token */
/* NULL for an unknown id; valid as long as the tokenizer. */
MB_API const char *mb_tokenizer_id_to_token(const mb_tokenizer *tokenizer, int32_t id);
/* {"source", "vocab_size", "bos_token", "eos_token", "eos_token_ids", "has_chat_template"}; valid until the
 * next call on this handle. */
MB_API mb_status mb_tokenizer_info(mb_tokenizer *tokenizer, const char **json);

/* The chat template of the tokenizer folder's tokenizer_config.json rendered for messages_json (a JSON array of
 * {"role", "content", ...} objects), as transformers' apply_chat_template(messages, tokenize=False) renders it.
 * variables_json: NULL, or a JSON object of extra template variables (tools, enable_thinking, ...). *text stays
 * valid until the next call on this handle. MB_ERR_NOT_FOUND when the folder has no chat template. */
MB_API mb_status mb_tokenizer_apply_chat_template(mb_tokenizer *tokenizer, const char *messages_json,
                                                  int add_generation_prompt, const char *variables_json,
                                                  const char **text);

/* Streaming decode of generated ids: each step gives the text the id adds, never a partial UTF-8 character
 * (text is held back until the character is complete); the pieces plus finish() equal mb_tokenizer_decode of
 * all the ids. The tokenizer must outlive the stream; *text stays valid until the next call on the stream. */
typedef struct mb_decode_stream mb_decode_stream;
MB_API mb_status mb_decode_stream_begin(mb_decode_stream **out, mb_tokenizer *tokenizer, int skip_special_tokens);
MB_API mb_status mb_decode_stream_step(mb_decode_stream *stream, int32_t id, const char **text, size_t *length);
MB_API mb_status mb_decode_stream_finish(mb_decode_stream *stream, const char **text, size_t *length);
MB_API void mb_decode_stream_free(mb_decode_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* MBRIDGE_H */
