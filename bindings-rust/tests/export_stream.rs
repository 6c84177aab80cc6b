//! Streaming export of every tensor, compared bit for bit with the safetensors source read independently.
mod common;

use std::collections::BTreeMap;

use mbridge::{Bridge, Target};

#[test]
fn hf_export_of_every_family_equals_the_safetensors_source() {
    for (family, dir) in common::hf_models() {
        let source = common::safetensors::read_folder(&dir);
        let mut bridge = Bridge::open(&dir).unwrap();
        let mut seen = BTreeMap::new();
        for tensor in bridge.export(Target::HuggingFace).unwrap() {
            let t = tensor.unwrap_or_else(|e| panic!("{family}: {e}"));
            let want = source.get(&t.name).unwrap_or_else(|| panic!("{family}: {} not in the source", t.name));
            assert_eq!(t.dtype.name(), want.dtype, "{family} {}", t.name);
            assert_eq!(t.shape, want.shape, "{family} {}", t.name);
            assert!(t.data == want.data, "{family} {}: bytes differ", t.name);
            assert!(seen.insert(t.name.clone(), ()).is_none(), "{family}: {} streamed twice", t.name);
        }
        assert_eq!(seen.len(), source.len(), "{family}: every source tensor is streamed");
    }
}

#[test]
fn borrowed_views_equal_owned_copies() {
    let dir = common::fixtures().join("bridge/hf/qwen3_moe");
    let mut bridge = Bridge::open(&dir).unwrap();
    let owned: Vec<mbridge::Tensor> = bridge.export(Target::Megatron).unwrap().collect::<Result<_, _>>().unwrap();
    let mut it = bridge.export(Target::Megatron).unwrap();
    let mut n = 0;
    while let Some(view) = it.next_view() {
        let view = view.unwrap();
        assert_eq!(view.to_owned(), owned[n]);
        assert_eq!(view.data().len() as i64, view.shape().iter().product::<i64>() * view.dtype().size() as i64);
        n += 1;
    }
    assert_eq!(n, owned.len());
    assert!(it.next().is_none(), "the iterator stays finished");
}

#[test]
fn unused_source_tensor_ends_the_export_with_an_error() {
    // A model with one extra tensor no parameter uses: the last item is an error, then the iterator ends.
    let src = common::fixtures().join("bridge/hf/llama2");
    let dir = common::scratch("unused");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let mut tensors = common::safetensors::read_file(&src.join("model.safetensors"));
    let stray = common::safetensors::StTensor { dtype: "F32".into(), shape: vec![1], data: vec![0; 4] };
    tensors.insert("stray.weight".into(), stray);
    common::safetensors::write_file(&dir.join("model.safetensors"), &tensors);
    let mut bridge = Bridge::open(&dir).unwrap();
    let items: Vec<_> = bridge.export(Target::HuggingFace).unwrap().collect();
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(last.status(), mbridge::Status::Format, "{last}");
    assert!(last.message().contains("stray.weight"), "{last}");
    assert!(items[..items.len() - 1].iter().all(|r| r.is_ok()));
}
