//! `Tokenizer`: Hugging Face tokenizer.json encode/decode, chat templates, and streaming decode.
use std::ffi::CStr;
use std::os::raw::c_char;
use std::path::Path;
use std::ptr::{self, NonNull};

use crate::error::{check, check_thread, cstr_lossy, Result};
use crate::sys;
use crate::util::{c_path, c_string};

/// A loaded tokenizer. `Send`, not `Sync` (one thread at a time on a handle).
pub struct Tokenizer {
    raw: NonNull<sys::mb_tokenizer>,
}

unsafe impl Send for Tokenizer {}

/// Text the library returned with an explicit length (it may hold NUL bytes).
unsafe fn text_of(p: *const c_char, len: usize) -> String {
    if p.is_null() {
        return String::new();
    }
    String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
}

impl Tokenizer {
    /// A `tokenizer.json`, or a folder holding one (with its tokenizer_config.json and
    /// generation_config.json: chat template, bos/eos).
    pub fn load(path: impl AsRef<Path>) -> Result<Tokenizer> {
        let path = c_path(path.as_ref())?;
        let mut raw = ptr::null_mut();
        check_thread(unsafe { sys::mb_tokenizer_load(&mut raw, path.as_ptr()) })?;
        Ok(Tokenizer { raw: NonNull::new(raw).expect("mb_tokenizer_load returned MB_OK and NULL") })
    }

    /// Ids as the `tokenizers` library gives them; `add_special_tokens` adds what its post-processor adds.
    pub fn encode(&mut self, text: &str, add_special_tokens: bool) -> Result<Vec<i32>> {
        let (mut ids, mut count) = (ptr::null(), 0usize);
        let status = unsafe {
            sys::mb_tokenizer_encode(self.as_ptr(), text.as_ptr() as *const c_char, text.len(), add_special_tokens as i32, &mut ids, &mut count)
        };
        check(status, || self.errmsg())?;
        Ok(if count == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(ids, count) }.to_vec() })
    }

    pub fn decode(&mut self, ids: &[i32], skip_special_tokens: bool) -> Result<String> {
        let (mut text, mut len) = (ptr::null(), 0usize);
        let status =
            unsafe { sys::mb_tokenizer_decode(self.as_ptr(), ids.as_ptr(), ids.len(), skip_special_tokens as i32, &mut text, &mut len) };
        check(status, || self.errmsg())?;
        Ok(unsafe { text_of(text, len) })
    }

    pub fn token_to_id(&self, token: &str) -> Option<i32> {
        let token = c_string(token).ok()?;
        let id = unsafe { sys::mb_tokenizer_token_to_id(self.raw.as_ptr(), token.as_ptr()) };
        (id >= 0).then_some(id)
    }

    pub fn id_to_token(&self, id: i32) -> Option<String> {
        let p = unsafe { sys::mb_tokenizer_id_to_token(self.raw.as_ptr(), id) };
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// `{"source", "vocab_size", "bos_token", "eos_token", "eos_token_ids", "has_chat_template"}`.
    pub fn info(&mut self) -> Result<String> {
        let mut json = ptr::null();
        check(unsafe { sys::mb_tokenizer_info(self.as_ptr(), &mut json) }, || self.errmsg())?;
        Ok(unsafe { cstr_lossy(json) })
    }

    /// The folder's chat template rendered for `messages_json` as transformers' apply_chat_template does.
    pub fn apply_chat_template(
        &mut self,
        messages_json: &str,
        add_generation_prompt: bool,
        variables_json: Option<&str>,
    ) -> Result<String> {
        let messages = c_string(messages_json)?;
        let variables = variables_json.map(c_string).transpose()?;
        let mut text = ptr::null();
        let status = unsafe {
            sys::mb_tokenizer_apply_chat_template(
                self.as_ptr(),
                messages.as_ptr(),
                add_generation_prompt as i32,
                variables.as_ref().map_or(ptr::null(), |v| v.as_ptr()),
                &mut text,
            )
        };
        check(status, || self.errmsg())?;
        Ok(unsafe { cstr_lossy(text) })
    }

    /// Decodes ids one at a time without splitting UTF-8 characters; borrows the tokenizer.
    pub fn decode_stream(&mut self, skip_special_tokens: bool) -> Result<DecodeStream<'_>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mb_decode_stream_begin(&mut raw, self.as_ptr(), skip_special_tokens as i32) }, || self.errmsg())?;
        Ok(DecodeStream { raw: NonNull::new(raw).expect("mb_decode_stream_begin returned MB_OK and NULL"), tokenizer: self })
    }

    pub(crate) fn as_ptr(&mut self) -> *mut sys::mb_tokenizer {
        self.raw.as_ptr()
    }

    fn errmsg(&self) -> *const c_char {
        unsafe { sys::mb_tokenizer_errmsg(self.raw.as_ptr()) }
    }
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        unsafe { sys::mb_tokenizer_free(self.raw.as_ptr()) }
    }
}

/// Streaming decode: `step` gives the text each id adds (held back until a character is complete);
/// the pieces plus `finish` equal `decode` of all the ids.
pub struct DecodeStream<'t> {
    raw: NonNull<sys::mb_decode_stream>,
    tokenizer: &'t mut Tokenizer,
}

impl DecodeStream<'_> {
    pub fn step(&mut self, id: i32) -> Result<String> {
        let (mut text, mut len) = (ptr::null(), 0usize);
        let status = unsafe { sys::mb_decode_stream_step(self.raw.as_ptr(), id, &mut text, &mut len) };
        // The stream has no errmsg of its own: the message is on the thread (this call, this thread).
        check(status, || unsafe { sys::mb_last_error() })?;
        Ok(unsafe { text_of(text, len) })
    }

    pub fn finish(self) -> Result<String> {
        let (mut text, mut len) = (ptr::null(), 0usize);
        let status = unsafe { sys::mb_decode_stream_finish(self.raw.as_ptr(), &mut text, &mut len) };
        check(status, || unsafe { sys::mb_last_error() })?;
        Ok(unsafe { text_of(text, len) })
    }

    /// The tokenizer the stream decodes with.
    pub fn tokenizer(&self) -> &Tokenizer {
        self.tokenizer
    }
}

impl Drop for DecodeStream<'_> {
    fn drop(&mut self) {
        unsafe { sys::mb_decode_stream_free(self.raw.as_ptr()) }
    }
}
