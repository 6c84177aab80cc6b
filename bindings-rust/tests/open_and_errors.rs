//! Opening models and listing what they hold, and the error paths: a missing path and a corrupt file
//! come back as `mbridge::Error` with the C status and the C message.
mod common;

use mbridge::{Bridge, Status, Target};

#[test]
fn version_matches_header() {
    let v = mbridge::version();
    assert_eq!(v, format!("{}.{}.{}", mbridge::sys::MB_VERSION_MAJOR, mbridge::sys::MB_VERSION_MINOR, mbridge::sys::MB_VERSION_PATCH));
}

#[test]
fn open_and_list_every_family() {
    let families = common::json::parse(&mbridge::list_supported());
    let listed: Vec<&str> =
        families.get("families").unwrap().as_arr().unwrap().iter().map(|f| f.get("family").unwrap().as_str().unwrap()).collect();
    for (family, dir) in common::hf_models() {
        assert_eq!(mbridge::can_handle(&dir).unwrap(), None, "{family}");
        let mut bridge = Bridge::open(&dir).unwrap();
        let info = common::json::parse(&bridge.info().unwrap());
        assert_eq!(info.get("source").unwrap().as_str(), Some("hf"));
        let fam = info.get("family").unwrap().as_str().unwrap().to_owned();
        assert!(listed.contains(&fam.as_str()), "{fam} not in list_supported()");
        // Listing: the Megatron parameter names, as many as the info says.
        let names: Vec<String> = bridge.export(Target::Megatron).unwrap().map(|t| t.unwrap().name).collect();
        assert_eq!(names.len() as i64, info.get("megatron_parameters").unwrap().as_i64().unwrap(), "{family}");
        assert!(names[0].contains("embedding"), "{family}: first parameter {}", names[0]);
    }
}

#[test]
fn missing_path_is_not_found_with_the_c_message() {
    let missing = common::scratch("missing").join("no-such-model");
    let err = Bridge::open(&missing).err().expect("opening a missing path must fail");
    assert_eq!(err.status(), Status::NotFound);
    assert!(err.message().contains("no-such-model"), "message should name the path: {err}");
    let err = mbridge::Tokenizer::load(missing.join("tokenizer.json")).err().unwrap();
    assert_eq!(err.status(), Status::NotFound, "{err}");
    assert!(!err.message().is_empty());
}

#[test]
fn corrupt_file_is_a_format_error_with_the_c_message() {
    // A copy of a fixture whose safetensors file lost its tail.
    let src = common::fixtures().join("bridge/hf/llama2");
    let dir = common::scratch("corrupt");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = Bridge::open(&dir).err().expect("a truncated safetensors file must be refused");
    assert_eq!(err.status(), Status::Format, "{err}");
    assert!(err.message().contains("model.safetensors"), "message should name the file: {err}");
    // The Display form carries status name, code and message.
    let shown = err.to_string();
    assert!(shown.contains("(-3)") && shown.contains(err.message()), "{shown}");

    // A header that is not JSON.
    let mut garbage = 16u64.to_le_bytes().to_vec();
    garbage.extend_from_slice(b"{not json at all");
    std::fs::write(dir.join("model.safetensors"), garbage).unwrap();
    let err = Bridge::open(&dir).err().unwrap();
    assert_eq!(err.status(), Status::Format, "{err}");
}

#[test]
fn conversion_errors_carry_the_c_message() {
    let src = common::fixtures().join("bridge/hf/llama2");
    let out = common::scratch("convert-errors");
    // The output must not exist for an export: an existing, non-empty folder is refused.
    std::fs::write(out.join("occupied"), b"x").unwrap();
    let err = mbridge::import_ckpt(&src, &out, &Default::default()).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    assert!(!err.message().is_empty());
    let err = mbridge::export_ckpt(out.join("nothing-here"), out.join("hf"), &Default::default()).unwrap_err();
    assert_eq!(err.status(), Status::NotFound, "{err}");
    // A layout that does not fit the model.
    let opts = mbridge::ConvertOptions { tp: 3, ..Default::default() };
    let err = mbridge::import_ckpt(&src, out.join("tp3"), &opts).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    assert!(!out.join("tp3").join("latest_checkpointed_iteration.txt").exists());
}
