//! Raw declarations of `include/mbridge.h`, written by hand (no bindgen: the crate has no dependencies).
//! `tests/header_drift.rs` parses the header and this file and fails when they disagree, so keep the
//! C names, field order and parameter types exactly as the header spells them.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub const MB_VERSION_MAJOR: c_int = 0;
pub const MB_VERSION_MINOR: c_int = 1;
pub const MB_VERSION_PATCH: c_int = 0;
pub const MB_MAX_DIMS: usize = 8;

// C enums are ints; they are kept as integers here because a Rust enum holding a value the library added
// later would be undefined behaviour.
pub type mb_status = c_int;
pub const MB_OK: mb_status = 0;
pub const MB_DONE: mb_status = 1;
pub const MB_ERR_INVALID_ARGUMENT: mb_status = -1;
pub const MB_ERR_IO: mb_status = -2;
pub const MB_ERR_FORMAT: mb_status = -3;
pub const MB_ERR_UNSUPPORTED: mb_status = -4;
pub const MB_ERR_NOT_FOUND: mb_status = -5;
pub const MB_ERR_OUT_OF_MEMORY: mb_status = -6;
pub const MB_ERR_CANCELLED: mb_status = -7;
pub const MB_ERR_CUDA: mb_status = -8;
pub const MB_ERR_INTERNAL: mb_status = -9;
pub const MB_ERR_ACCESS_DENIED: mb_status = -10;
pub const MB_ERR_NETWORK: mb_status = -11;

pub type mb_dtype = c_int;
pub const MB_DTYPE_F64: mb_dtype = 0;
pub const MB_DTYPE_F32: mb_dtype = 1;
pub const MB_DTYPE_F16: mb_dtype = 2;
pub const MB_DTYPE_BF16: mb_dtype = 3;
pub const MB_DTYPE_F8_E4M3: mb_dtype = 4;
pub const MB_DTYPE_F8_E5M2: mb_dtype = 5;
pub const MB_DTYPE_I64: mb_dtype = 6;
pub const MB_DTYPE_I32: mb_dtype = 7;
pub const MB_DTYPE_I16: mb_dtype = 8;
pub const MB_DTYPE_I8: mb_dtype = 9;
pub const MB_DTYPE_U8: mb_dtype = 10;
pub const MB_DTYPE_BOOL: mb_dtype = 11;
pub const MB_DTYPE_KEEP: mb_dtype = -1;

pub type mb_device_type = c_int;
pub const MB_DEVICE_CPU: mb_device_type = 0;
pub const MB_DEVICE_CUDA: mb_device_type = 1;

pub type mb_log_level = c_int;
pub const MB_LOG_DEBUG: mb_log_level = 0;
pub const MB_LOG_INFO: mb_log_level = 1;
pub const MB_LOG_WARNING: mb_log_level = 2;
pub const MB_LOG_ERROR: mb_log_level = 3;

pub type mb_format = c_int;
pub const MB_FORMAT_AUTO: mb_format = 0;
pub const MB_FORMAT_SAFETENSORS: mb_format = 1;
pub const MB_FORMAT_TORCH: mb_format = 2;
pub const MB_FORMAT_TORCH_DIST: mb_format = 3;
pub const MB_FORMAT_MEGATRON_LEGACY: mb_format = 4;

pub type mb_target = c_int;
pub const MB_TARGET_HF: mb_target = 0;
pub const MB_TARGET_MEGATRON: mb_target = 1;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_tensor_view {
    pub name: *const c_char,
    pub dtype: mb_dtype,
    pub ndim: i32,
    pub shape: [i64; MB_MAX_DIMS],
    pub data: *const c_void,
    pub nbytes: u64,
    pub device: mb_device_type,
    pub device_index: i32,
}

pub type mb_log_fn = Option<unsafe extern "C" fn(level: mb_log_level, message: *const c_char, user_data: *mut c_void)>;
pub type mb_progress_fn =
    Option<unsafe extern "C" fn(stage: *const c_char, done: u64, total: u64, user_data: *mut c_void) -> c_int>;
pub type mb_token_fn = Option<unsafe extern "C" fn(sequence: usize, step: i64, token: i32, user_data: *mut c_void) -> c_int>;

// Opaque handles: only ever behind pointers.
#[repr(C)]
pub struct mb_checkpoint {
    _private: [u8; 0],
}
#[repr(C)]
pub struct mb_bridge {
    _private: [u8; 0],
}
#[repr(C)]
pub struct mb_export {
    _private: [u8; 0],
}
#[repr(C)]
pub struct mb_model {
    _private: [u8; 0],
}
#[repr(C)]
pub struct mb_tokenizer {
    _private: [u8; 0],
}
#[repr(C)]
pub struct mb_decode_stream {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_open_options {
    pub struct_size: u32,
    pub format: mb_format,
    pub verify_checksums: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_write_options {
    pub struct_size: u32,
    pub format: mb_format,
    pub max_shard_bytes: u64,
    pub files: i32,
    pub chunks: i32,
    pub dtype: mb_dtype,
    pub progress: mb_progress_fn,
    pub user_data: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_bridge_options {
    pub struct_size: u32,
    pub hf_model: *const c_char,
    pub family: *const c_char,
    pub progress: mb_progress_fn,
    pub user_data: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_export_options {
    pub struct_size: u32,
    pub target: mb_target,
    pub frame_level: i32,
    pub threads: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_pack_options {
    pub struct_size: u32,
    pub level: i32,
    pub tensor_level: i32,
    pub chunk_bytes: u64,
    pub threads: i32,
    pub progress: mb_progress_fn,
    pub user_data: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_convert_options {
    pub struct_size: u32,
    pub format: mb_format,
    pub tp: i32,
    pub pp: i32,
    pub vpp: i32,
    pub ep: i32,
    pub local_spec: i32,
    pub dtype: mb_dtype,
    pub iteration: i64,
    pub vocab_divisible_by: i64,
    pub max_shard_bytes: u64,
    pub hf_model: *const c_char,
    pub family: *const c_char,
    pub allow_unused: i32,
    pub progress: mb_progress_fn,
    pub user_data: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_load_options {
    pub struct_size: u32,
    pub device: mb_device_type,
    pub device_index: c_int,
    pub tp: i32,
    pub pp: i32,
    pub expert_parallel: i32,
    pub one_process_per_rank: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct mb_generate_options {
    pub struct_size: u32,
    pub max_new_tokens: i64,
    pub temperature: f64,
    pub top_k: i64,
    pub top_p: f64,
    pub seed: u64,
    pub stop_ids: *const i32,
    pub stop_count: usize,
}

extern "C" {
    // library
    pub fn mb_version() -> *const c_char;
    pub fn mb_version_number() -> c_int;
    pub fn mb_status_string(status: mb_status) -> *const c_char;
    pub fn mb_last_error() -> *const c_char;
    pub fn mb_dtype_name(dtype: mb_dtype) -> *const c_char;
    pub fn mb_dtype_size(dtype: mb_dtype) -> usize;
    pub fn mb_set_log_callback(f: mb_log_fn, min_level: mb_log_level, user_data: *mut c_void);
    pub fn mb_cuda_device_count() -> c_int;

    // checkpoint files
    pub fn mb_open_default_options() -> mb_open_options;
    pub fn mb_checkpoint_open(out: *mut *mut mb_checkpoint, path: *const c_char, options: *const mb_open_options) -> mb_status;
    pub fn mb_checkpoint_free(checkpoint: *mut mb_checkpoint);
    pub fn mb_checkpoint_errmsg(checkpoint: *const mb_checkpoint) -> *const c_char;
    pub fn mb_checkpoint_format(checkpoint: *const mb_checkpoint) -> mb_format;
    pub fn mb_checkpoint_info_json(checkpoint: *mut mb_checkpoint, json: *mut *const c_char) -> mb_status;
    pub fn mb_checkpoint_tensor_count(checkpoint: *const mb_checkpoint) -> i64;
    pub fn mb_checkpoint_tensor_info(checkpoint: *mut mb_checkpoint, index: i64, out: *mut mb_tensor_view) -> mb_status;
    pub fn mb_checkpoint_read(
        checkpoint: *mut mb_checkpoint,
        name: *const c_char,
        dtype: mb_dtype,
        out: *mut mb_tensor_view,
    ) -> mb_status;
    pub fn mb_write_default_options() -> mb_write_options;
    pub fn mb_checkpoint_write(checkpoint: *mut mb_checkpoint, out_path: *const c_char, options: *const mb_write_options) -> mb_status;
    pub fn mb_checkpoint_compare(
        a: *mut mb_checkpoint,
        b: *mut mb_checkpoint,
        equal: *mut c_int,
        report_json: *mut *const c_char,
    ) -> mb_status;

    // models
    pub fn mb_bridge_default_options() -> mb_bridge_options;
    pub fn mb_bridge_open(out: *mut *mut mb_bridge, path: *const c_char, options: *const mb_bridge_options) -> mb_status;
    pub fn mb_bridge_free(bridge: *mut mb_bridge);
    pub fn mb_bridge_errmsg(bridge: *const mb_bridge) -> *const c_char;
    pub fn mb_bridge_info(bridge: *mut mb_bridge, json: *mut *const c_char) -> mb_status;
    pub fn mb_list_supported() -> *const c_char;
    pub fn mb_can_handle(config_path: *const c_char, supported: *mut c_int, reason: *mut *const c_char) -> mb_status;

    pub fn mb_export_begin(out: *mut *mut mb_export, bridge: *mut mb_bridge, target: mb_target) -> mb_status;
    pub fn mb_export_next(it: *mut mb_export, out: *mut mb_tensor_view) -> mb_status;
    pub fn mb_export_free(it: *mut mb_export);
    pub fn mb_export_errmsg(it: *const mb_export) -> *const c_char;
    pub fn mb_export_default_options() -> mb_export_options;
    pub fn mb_export_begin_with_options(out: *mut *mut mb_export, bridge: *mut mb_bridge, options: *const mb_export_options) -> mb_status;
    pub fn mb_export_next_frame(it: *mut mb_export, out: *mut mb_tensor_view, frame: *mut *const c_void, frame_size: *mut usize) -> mb_status;
    pub fn mb_frame_info(frame: *const c_void, frame_size: usize, out: *mut mb_tensor_view) -> mb_status;
    pub fn mb_frame_decode(frame: *const c_void, frame_size: usize, dst: *mut c_void, dst_size: usize, threads: i32) -> mb_status;
    pub fn mb_pack_default_options() -> mb_pack_options;
    pub fn mb_bundle_pack(folder: *const c_char, bundle_path: *const c_char, options: *const mb_pack_options) -> mb_status;
    pub fn mb_bundle_unpack(bundle_path: *const c_char, folder: *const c_char, options: *const mb_pack_options) -> mb_status;

    pub fn mb_convert_default_options() -> mb_convert_options;
    pub fn mb_import_ckpt(hf_path: *const c_char, megatron_path: *const c_char, options: *const mb_convert_options) -> mb_status;
    pub fn mb_export_ckpt(megatron_path: *const c_char, hf_path: *const c_char, options: *const mb_convert_options) -> mb_status;
    pub fn mb_reshard_ckpt(megatron_path: *const c_char, out_path: *const c_char, options: *const mb_convert_options) -> mb_status;
    pub fn mb_verify(a: *const c_char, b: *const c_char, equal: *mut c_int, report_json: *mut *const c_char) -> mb_status;

    // running a model
    pub fn mb_load_default_options() -> mb_load_options;
    pub fn mb_load_weights(out: *mut *mut mb_model, bridge: *mut mb_bridge, options: *const mb_load_options) -> mb_status;
    pub fn mb_model_free(model: *mut mb_model);
    pub fn mb_model_errmsg(model: *const mb_model) -> *const c_char;
    pub fn mb_model_vocab_size(model: *const mb_model) -> i64;
    pub fn mb_forward(model: *mut mb_model, ids: *const i32, count: usize, logits: *mut *const f32) -> mb_status;
    pub fn mb_generate_default_options() -> mb_generate_options;
    pub fn mb_generate(
        model: *mut mb_model,
        prompts: *const *const i32,
        prompt_lengths: *const usize,
        count: usize,
        options: *const mb_generate_options,
        on_token: mb_token_fn,
        user_data: *mut c_void,
        generated: *mut *const i32,
        generated_lengths: *mut *const usize,
    ) -> mb_status;
    pub fn mb_generate_with_images(
        model: *mut mb_model,
        prompt: *const i32,
        prompt_length: usize,
        image_paths: *const *const c_char,
        image_count: usize,
        processor_dir: *const c_char,
        options: *const mb_generate_options,
        on_token: mb_token_fn,
        user_data: *mut c_void,
        generated: *mut *const i32,
        generated_length: *mut usize,
    ) -> mb_status;
    pub fn mb_generate_text(
        model: *mut mb_model,
        tokenizer: *mut mb_tokenizer,
        prompts: *const *const c_char,
        count: usize,
        options: *const mb_generate_options,
        on_token: mb_token_fn,
        user_data: *mut c_void,
        texts: *mut *const *const c_char,
    ) -> mb_status;

    // tokenizers
    pub fn mb_tokenizer_load(out: *mut *mut mb_tokenizer, path: *const c_char) -> mb_status;
    pub fn mb_tokenizer_free(tokenizer: *mut mb_tokenizer);
    pub fn mb_tokenizer_errmsg(tokenizer: *const mb_tokenizer) -> *const c_char;
    pub fn mb_tokenizer_encode(
        tokenizer: *mut mb_tokenizer,
        text: *const c_char,
        length: usize,
        add_special_tokens: c_int,
        ids: *mut *const i32,
        count: *mut usize,
    ) -> mb_status;
    pub fn mb_tokenizer_decode(
        tokenizer: *mut mb_tokenizer,
        ids: *const i32,
        count: usize,
        skip_special_tokens: c_int,
        text: *mut *const c_char,
        length: *mut usize,
    ) -> mb_status;
    pub fn mb_tokenizer_token_to_id(tokenizer: *const mb_tokenizer, token: *const c_char) -> i32;
    pub fn mb_tokenizer_id_to_token(tokenizer: *const mb_tokenizer, id: i32) -> *const c_char;
    pub fn mb_tokenizer_info(tokenizer: *mut mb_tokenizer, json: *mut *const c_char) -> mb_status;
    pub fn mb_tokenizer_apply_chat_template(
        tokenizer: *mut mb_tokenizer,
        messages_json: *const c_char,
        add_generation_prompt: c_int,
        variables_json: *const c_char,
        text: *mut *const c_char,
    ) -> mb_status;
    pub fn mb_decode_stream_begin(out: *mut *mut mb_decode_stream, tokenizer: *mut mb_tokenizer, skip_special_tokens: c_int) -> mb_status;
    pub fn mb_decode_stream_step(stream: *mut mb_decode_stream, id: i32, text: *mut *const c_char, length: *mut usize) -> mb_status;
    pub fn mb_decode_stream_finish(stream: *mut mb_decode_stream, text: *mut *const c_char, length: *mut usize) -> mb_status;
    pub fn mb_decode_stream_free(stream: *mut mb_decode_stream);
}
