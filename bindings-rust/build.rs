//! Finds libmbridge: `MBRIDGE_DIR` (an install prefix: lib/ or lib64/ and include/) when set, else the
//! `pkg-config` program (PKG_CONFIG_PATH for a prefix install). Std only: no pkg-config or cc crate.
//! The library directory is also put in the run path of tests and examples so `cargo test` runs without
//! LD_LIBRARY_PATH, and the header's path is handed to the drift test.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MBRIDGE_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let (lib_dirs, include_dir) = match env::var_os("MBRIDGE_DIR") {
        Some(dir) => from_prefix(Path::new(&dir)),
        None => from_pkg_config(),
    };
    for dir in &lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    println!("cargo:rustc-link-lib=dylib=mbridge");
    let header = include_dir.join("mbridge.h");
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rustc-env=MBRIDGE_HEADER={}", header.display());
}

fn from_prefix(prefix: &Path) -> (Vec<PathBuf>, PathBuf) {
    let lib = ["lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "."]
        .iter()
        .map(|d| prefix.join(d))
        .find(|d| d.join("libmbridge.so").exists())
        .unwrap_or_else(|| panic!("MBRIDGE_DIR={}: no libmbridge.so under lib/ or lib64/", prefix.display()));
    let include = [prefix.join("include"), prefix.join("../include")]
        .into_iter()
        .find(|d| d.join("mbridge.h").exists())
        .unwrap_or_else(|| panic!("MBRIDGE_DIR={}: no include/mbridge.h", prefix.display()));
    (vec![lib], include)
}

fn from_pkg_config() -> (Vec<PathBuf>, PathBuf) {
    let run = |arg: &str| -> String {
        let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
            .args([arg, "mbridge"])
            .output()
            .unwrap_or_else(|e| panic!("mbridge: set MBRIDGE_DIR or install pkg-config ({e})"));
        if !out.status.success() {
            panic!(
                "mbridge: pkg-config cannot find mbridge (set PKG_CONFIG_PATH to <prefix>/lib/pkgconfig or MBRIDGE_DIR \
                 to the install prefix): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8(out.stdout).expect("pkg-config output is UTF-8")
    };
    let libs: Vec<PathBuf> =
        run("--libs-only-L").split_whitespace().filter_map(|f| f.strip_prefix("-L")).map(PathBuf::from).collect();
    let include = run("--variable=includedir");
    (libs, PathBuf::from(include.trim()))
}
