//! Hugging Face -> Megatron -> Hugging Face through the one-call conversions: bit-exact, and `verify` agrees.
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mbridge::{ConvertOptions, MegatronFormat, Status};

fn roundtrip(family: &str, options: &ConvertOptions) {
    let src = common::fixtures().join("bridge/hf").join(family);
    let work = common::scratch(&format!("roundtrip-{family}"));
    let (megatron, back) = (work.join("megatron"), work.join("hf"));
    mbridge::import_ckpt(&src, &megatron, options).unwrap();
    assert!(megatron.join("latest_checkpointed_iteration.txt").is_file());
    mbridge::export_ckpt(&megatron, &back, options).unwrap();
    let (a, b) = (common::safetensors::read_folder(&src), common::safetensors::read_folder(&back));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{family}: tensor names");
    for (name, t) in &a {
        assert!(b[name] == *t, "{family} {name}: differs after the round trip");
    }
    let v = mbridge::verify(&src, &megatron).unwrap();
    assert!(v.equal, "{family}: {}", v.report_json);
    assert!(v.report_json.contains("\"params\""));
}

#[test]
fn llama_torch_dist_tp2_pp2_is_bit_exact() {
    let bytes = Arc::new(AtomicU64::new(0));
    let seen = bytes.clone();
    let options = ConvertOptions {
        tp: 2,
        pp: 2,
        progress: Some(Arc::new(move |_stage: &str, done: u64, _total: u64| {
            seen.store(done, Ordering::SeqCst);
            true
        })),
        ..Default::default()
    };
    roundtrip("llama31", &options);
    assert!(bytes.load(Ordering::SeqCst) > 0, "progress was reported");
}

#[test]
fn qwen3_moe_legacy_tp2_ep2_is_bit_exact() {
    roundtrip("qwen3_moe", &ConvertOptions { format: MegatronFormat::Legacy, tp: 2, ep: 2, ..Default::default() });
}

#[test]
fn verify_reports_a_difference() {
    let (a, b) = (common::fixtures().join("bridge/hf/llama2"), common::fixtures().join("bridge/hf/mistral"));
    match mbridge::verify(&a, &b) {
        Ok(v) => assert!(!v.equal, "two different models verified equal"),
        Err(e) => assert_eq!(e.status(), Status::InvalidArgument, "{e}"), // e.g. vocabularies differ
    }
}

#[test]
fn cancelling_from_progress_leaves_nothing() {
    let src = common::fixtures().join("bridge/hf/llama2");
    let out = common::scratch("cancel").join("megatron");
    let options = ConvertOptions { progress: Some(Arc::new(|_: &str, _, _| false)), ..Default::default() };
    let err = mbridge::import_ckpt(&src, &out, &options).unwrap_err();
    assert_eq!(err.status(), Status::Cancelled, "{err}");
    assert!(!out.join("latest_checkpointed_iteration.txt").exists());
}

#[test]
#[should_panic(expected = "progress callback panicked")]
fn a_panic_in_progress_reaches_the_caller() {
    let src = common::fixtures().join("bridge/hf/llama2");
    let out = common::scratch("panic").join("megatron");
    let options = ConvertOptions { progress: Some(Arc::new(|_: &str, _, _| panic!("progress callback panicked"))), ..Default::default() };
    let _ = mbridge::import_ckpt(&src, &out, &options);
}
