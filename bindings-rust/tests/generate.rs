//! CPU generation: 16 greedy tokens equal to the ones transformers chose (tests/fixtures/bridge/hf/
//! <family>.greedy.safetensors), from a Hugging Face folder and from a Megatron checkpoint; tokenizers.
mod common;

use mbridge::{Bridge, Device, GenerateOptions, Model, Parallel, Status, Token, Tokenizer};

const NEW_TOKENS: usize = 16;

fn greedy_16() -> GenerateOptions {
    GenerateOptions { max_new_tokens: NEW_TOKENS as i64, ..Default::default() }
}

fn check_model(family: &str, model: &mut Model, cases: &[(Vec<i32>, Vec<i32>)]) {
    let prompts: Vec<&[i32]> = cases.iter().map(|(p, _)| p.as_slice()).collect();
    let mut streamed: Vec<Vec<i32>> = vec![Vec::new(); prompts.len()];
    let out = model
        .generate(&prompts, &greedy_16(), |t: Token| {
            assert_eq!(t.step as usize, streamed[t.sequence].len(), "steps arrive in order");
            streamed[t.sequence].push(t.id);
            true
        })
        .unwrap();
    for (i, (_, want)) in cases.iter().enumerate() {
        assert!(want.len() >= NEW_TOKENS);
        assert_eq!(out[i], want[..NEW_TOKENS], "{family} prompt {i}: greedy tokens differ from transformers'");
        assert_eq!(streamed[i], out[i], "{family} prompt {i}: the closure saw every token");
    }
}

#[test]
fn greedy_tokens_equal_transformers_for_every_family() {
    for (family, dir) in common::hf_models() {
        let cases = common::safetensors::greedy_cases(&dir.with_file_name(format!("{family}.greedy.safetensors")));
        let mut bridge = Bridge::open(&dir).unwrap();
        let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
        drop(bridge); // the model keeps what it needs
        check_model(&family, &mut model, &cases);
    }
}

#[test]
fn greedy_tokens_from_a_megatron_checkpoint() {
    let dir = common::fixtures().join("bridge/hf/llama31");
    let cases = common::safetensors::greedy_cases(&dir.with_file_name("llama31.greedy.safetensors"));
    let megatron = common::scratch("generate-megatron").join("ckpt");
    mbridge::import_ckpt(&dir, &megatron, &mbridge::ConvertOptions { tp: 2, pp: 2, ..Default::default() }).unwrap();
    let mut bridge = Bridge::open(&megatron).unwrap();
    let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
    check_model("llama31 (torch_dist tp2 pp2)", &mut model, &cases);
}

#[test]
fn tensor_and_pipeline_parallel_ranks_give_the_same_tokens() {
    let dir = common::fixtures().join("bridge/hf/mixtral");
    let cases = common::safetensors::greedy_cases(&dir.with_file_name("mixtral.greedy.safetensors"));
    let mut bridge = Bridge::open(&dir).unwrap();
    for parallel in [Parallel { tp: 2, pp: 2, ..Default::default() }, Parallel { tp: 2, expert_parallel: true, ..Default::default() }] {
        let mut model = Model::load_parallel(&mut bridge, Device::Cpu, parallel).unwrap();
        check_model(&format!("mixtral {parallel:?}"), &mut model, &cases);
    }
    let err = Model::load_parallel(&mut bridge, Device::Cpu, Parallel { tp: 3, ..Default::default() }).err().unwrap();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(err.message().contains("tensor parallel 3"), "{}", err.message());
}

#[test]
fn closure_can_stop_a_sequence_and_errors_come_back() {
    let mut bridge = Bridge::open(common::fixtures().join("bridge/hf/llama2")).unwrap();
    let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
    let out = model.generate(&[&[1, 17, 42]], &greedy_16(), |t| t.step < 2).unwrap();
    assert_eq!(out[0].len(), 3, "returning false after the third token ends the sequence");
    let err = model.generate(&[&[]], &greedy_16(), |_| true).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(!err.message().is_empty());
    // The GPU backend: refused in a CPU-only build or on a machine without a GPU, with the C message.
    if mbridge::cuda_device_count() == 0 {
        let err = Model::load(&mut bridge, Device::Cuda(0)).err().unwrap();
        assert!(matches!(err.status(), Status::Unsupported | Status::Cuda), "{err}");
        assert!(!err.message().is_empty());
    }
}

#[test]
fn forward_logits_pick_the_greedy_token() {
    let dir = common::fixtures().join("bridge/hf/qwen3");
    let cases = common::safetensors::greedy_cases(&dir.with_file_name("qwen3.greedy.safetensors"));
    let mut bridge = Bridge::open(&dir).unwrap();
    let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
    let (prompt, greedy) = &cases[0];
    let logits = model.forward(prompt).unwrap();
    let vocab = model.vocab_size();
    assert_eq!(logits.len(), prompt.len() * vocab);
    let last = &logits[(prompt.len() - 1) * vocab..];
    let argmax = (0..vocab).fold(0, |best, i| if last[i] > last[best] { i } else { best });
    assert_eq!(argmax as i32, greedy[0]);
}

#[test]
#[should_panic(expected = "token callback panicked")]
fn a_panic_in_the_token_closure_reaches_the_caller() {
    let mut bridge = Bridge::open(common::fixtures().join("bridge/hf/llama2")).unwrap();
    let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
    let _ = model.generate(&[&[1, 2]], &greedy_16(), |_| panic!("token callback panicked"));
}

#[test]
fn tokenizer_round_trips_and_streams() {
    let dir = common::fixtures().join("bridge/hf/llama31");
    let mut tok = Tokenizer::load(&dir).unwrap();
    // The fixture's tokenizer is tiny (64 byte-level BPE tokens): text made of its letters.
    let text = "hello megatron and hugging face, this is a bridge";
    let ids = tok.encode(text, false).unwrap();
    assert!(!ids.is_empty());
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    let with_special = tok.encode(text, true).unwrap();
    assert!(with_special.len() >= ids.len());
    let first = tok.id_to_token(ids[0]).unwrap();
    assert_eq!(tok.token_to_id(&first), Some(ids[0]));
    assert_eq!(tok.token_to_id("<definitely not a token>"), None);
    let info = common::json::parse(&tok.info().unwrap());
    assert!(info.get("vocab_size").unwrap().as_i64().unwrap() > 0);
    let mut stream = tok.decode_stream(false).unwrap();
    let mut joined = String::new();
    for &id in &ids {
        joined += &stream.step(id).unwrap();
    }
    joined += &stream.finish().unwrap();
    assert_eq!(joined, text);
}

#[test]
fn generate_text_equals_generate_then_decode() {
    let dir = common::fixtures().join("bridge/hf/llama31");
    let mut tok = Tokenizer::load(&dir).unwrap();
    let mut bridge = Bridge::open(&dir).unwrap();
    let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
    let opts = GenerateOptions { max_new_tokens: 8, stop_ids: vec![-1], ..Default::default() };
    let mut calls = 0;
    let texts = model.generate_text(&mut tok, &["Hello"], &opts, |_| { calls += 1; true }).unwrap();
    let ids = tok.encode("Hello", true).unwrap();
    let tokens = model.generate(&[&ids], &opts, |_| true).unwrap();
    assert_eq!(calls, tokens[0].len());
    assert_eq!(texts[0], tok.decode(&tokens[0], true).unwrap());
}

#[test]
fn an_image_file_prompt_gives_transformers_tokens() {
    // tests/fixtures/vlm: Qwen2.5-VL's third greedy case, its run of image tokens cut to one (as a chat template
    // writes it), with the JPEG it was made from
    const IMAGE_TOKEN: i32 = 251; // image_token_id of the fixture's config.json
    let vlm = common::fixtures().join("vlm");
    let tensors = common::safetensors::read_file(&vlm.join("qwen2_5_vl.greedy.safetensors"));
    let expanded = common::safetensors::ids(&tensors["prompt_2"]);
    let want = common::safetensors::ids(&tensors["greedy_2"]);
    let mut prompt: Vec<i32> = Vec::new();
    for id in expanded {
        if !(id == IMAGE_TOKEN && prompt.last() == Some(&IMAGE_TOKEN)) {
            prompt.push(id);
        }
    }
    let dir = vlm.join("qwen2_5_vl");
    let image = vlm.join("images/square.jpg");
    let mut bridge = Bridge::open(&dir).unwrap();
    let mut model = Model::load(&mut bridge, Device::Cpu).unwrap();
    let mut seen = 0;
    let out = model
        .generate_with_images(&prompt, &[image.to_str().unwrap()], Some(dir.to_str().unwrap()), &greedy_16(), |_| {
            seen += 1;
            true
        })
        .unwrap();
    assert_eq!(out, want[..NEW_TOKENS], "greedy tokens differ from transformers'");
    assert_eq!(seen, NEW_TOKENS);
    let err = model.generate_with_images(&[5, IMAGE_TOKEN, IMAGE_TOKEN], &[image.to_str().unwrap()], None, &greedy_16(), |_| true);
    assert_eq!(err.unwrap_err().status(), Status::InvalidArgument);
}
