//! Shared by the integration tests: fixture paths, scratch folders and an independent safetensors reader
//! (the oracle the binding's output is compared with; it does not go through mbridge).
#![allow(dead_code)]

pub mod json;
pub mod safetensors;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository's committed fixtures (`tests/fixtures`), or `MBRIDGE_FIXTURES`.
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("MBRIDGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures"));
    assert!(dir.join("bridge/hf").is_dir(), "no fixtures at {}", dir.display());
    dir
}

/// Every Hugging Face fixture model with a greedy reference: (family, folder).
pub fn hf_models() -> Vec<(String, PathBuf)> {
    let root = fixtures().join("bridge/hf");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let family = name.strip_suffix(".greedy.safetensors")?.to_owned();
            Some((family.clone(), root.join(&family)))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "expected the fixture families under {}", root.display());
    out
}

/// A fresh, empty scratch folder under the target dir (left there for inspection after a failure).
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
