//! Greedy generation on the CPU from a Hugging Face folder or a Megatron checkpoint, printing text as each
//! token is chosen (Megatron-Bridge's hf_to_megatron_generate_text.py).
//! usage: generate MODEL TOKENIZER_DIR PROMPT [MAX_NEW_TOKENS]
use std::io::Write;

use mbridge::{Bridge, Device, GenerateOptions, Model, Tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err(format!("usage: {} MODEL TOKENIZER_DIR PROMPT [MAX_NEW_TOKENS]", args[0]).into());
    }
    let mut tokenizer = Tokenizer::load(&args[2])?;
    let prompt = tokenizer.encode(&args[3], true)?;
    let mut model = Model::load(&mut Bridge::open(&args[1])?, Device::Cpu)?;
    let options = GenerateOptions { max_new_tokens: args.get(4).map_or(Ok(16), |n| n.parse())?, ..Default::default() };
    let mut stream = tokenizer.decode_stream(true)?;
    print!("{}", args[3]);
    let tokens = model.generate(&[&prompt], &options, |token| {
        // Text appears as soon as it is complete UTF-8.
        if let Ok(piece) = stream.step(token.id) {
            print!("{piece}");
            let _ = std::io::stdout().flush();
        }
        true
    })?;
    println!("{}", stream.finish()?);
    eprintln!("{} new tokens: {:?}", tokens[0].len(), tokens[0]);
    Ok(())
}
