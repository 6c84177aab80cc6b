//! Hugging Face -> Megatron -> Hugging Face, then a parameter-by-parameter check (Megatron-Bridge's
//! hf_megatron_roundtrip.py). usage: roundtrip HF_DIR OUT_DIR [TP PP]
use std::process::ExitCode;

fn main() -> Result<ExitCode, mbridge::Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: {} HF_DIR OUT_DIR [TP PP]", args[0]);
        return Ok(ExitCode::from(2));
    }
    let (hf, out) = (std::path::Path::new(&args[1]), std::path::Path::new(&args[2]));
    let layout = |i: usize| args.get(i).map_or(1, |v| v.parse().expect("a number"));
    let options = mbridge::ConvertOptions { tp: layout(3), pp: layout(4), ..Default::default() };
    let (megatron, back) = (out.join("megatron"), out.join("hf"));
    mbridge::import_ckpt(hf, &megatron, &options)?;
    mbridge::export_ckpt(&megatron, &back, &options)?;
    let check = mbridge::verify(hf, &back)?;
    println!("{} -> {} -> {}: {}", hf.display(), megatron.display(), back.display(), if check.equal { "equal" } else { "DIFFERENT" });
    Ok(if check.equal { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
