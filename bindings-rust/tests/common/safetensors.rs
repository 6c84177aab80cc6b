//! An independent safetensors reader: 8-byte little-endian header length, JSON header, then the data.
use std::collections::BTreeMap;
use std::path::Path;

use super::json::{parse, Json};

#[derive(Debug, Clone, PartialEq)]
pub struct StTensor {
    pub dtype: String,
    pub shape: Vec<i64>,
    pub data: Vec<u8>,
}

/// Every tensor of one `.safetensors` file, by name.
pub fn read_file(path: &Path) -> BTreeMap<String, StTensor> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = parse(std::str::from_utf8(&bytes[8..8 + n]).unwrap());
    let data = &bytes[8 + n..];
    let entries = match header {
        Json::Obj(entries) => entries,
        _ => panic!("{}: header is not an object", path.display()),
    };
    entries
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .map(|(name, v)| {
            let offsets: Vec<usize> = v.get("data_offsets").unwrap().as_arr().unwrap().iter().map(|o| o.as_i64().unwrap() as usize).collect();
            let t = StTensor {
                dtype: v.get("dtype").unwrap().as_str().unwrap().to_owned(),
                shape: v.get("shape").unwrap().as_arr().unwrap().iter().map(|d| d.as_i64().unwrap()).collect(),
                data: data[offsets[0]..offsets[1]].to_vec(),
            };
            (name, t)
        })
        .collect()
}

/// Every tensor of a Hugging Face folder (all its `.safetensors` files, sharded or not).
pub fn read_folder(dir: &Path) -> BTreeMap<String, StTensor> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().map_or(false, |e| e == "safetensors") {
            out.extend(read_file(&path));
        }
    }
    assert!(!out.is_empty(), "no safetensors in {}", dir.display());
    out
}

/// An integer tensor (I64 or I32) as i32 values.
pub fn ids(t: &StTensor) -> Vec<i32> {
    match t.dtype.as_str() {
        "I64" => t.data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as i32).collect(),
        "I32" => t.data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect(),
        other => panic!("ids: unexpected dtype {other}"),
    }
}

/// A fixture's greedy references: (prompt, tokens transformers chose greedily), in prompt order.
pub fn greedy_cases(path: &Path) -> Vec<(Vec<i32>, Vec<i32>)> {
    let file = read_file(path);
    let mut cases = Vec::new();
    while let (Some(p), Some(g)) = (file.get(&format!("prompt_{}", cases.len())), file.get(&format!("greedy_{}", cases.len()))) {
        cases.push((ids(p), ids(g)));
    }
    assert!(!cases.is_empty(), "{}: no prompt_0 / greedy_0", path.display());
    cases
}

/// Writes tensors as a safetensors file (header padded with spaces to 8 bytes, as the library does).
pub fn write_file(path: &Path, tensors: &BTreeMap<String, StTensor>) {
    let (mut header, mut data) = (Vec::new(), Vec::new());
    for (name, t) in tensors {
        let shape: Vec<String> = t.shape.iter().map(i64::to_string).collect();
        header.push(format!(
            "\"{name}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            t.dtype,
            shape.join(","),
            data.len(),
            data.len() + t.data.len()
        ));
        data.extend_from_slice(&t.data);
    }
    let mut header = format!("{{{}}}", header.join(",")).into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}
