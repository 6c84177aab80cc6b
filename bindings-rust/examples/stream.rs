//! Streams a model's converted tensors one at a time without writing files (Megatron-Bridge's
//! export_hf_weights): name, dtype, shape and a checksum of each. usage: stream MODEL [hf|megatron]
use mbridge::{Bridge, Target};

fn main() -> Result<(), mbridge::Error> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: stream MODEL [hf|megatron]");
    let target = if args.get(2).map(String::as_str) == Some("megatron") { Target::Megatron } else { Target::HuggingFace };
    let mut bridge = Bridge::open(path)?;
    let mut export = bridge.export(target)?;
    let (mut count, mut bytes) = (0, 0);
    // next_view lends the library's buffer: nothing is copied.
    while let Some(view) = export.next_view() {
        let view = view?;
        let sum = view.data().iter().fold(0u32, |s, &b| s.wrapping_mul(31).wrapping_add(b as u32));
        println!("{:<60} {:>5} {:?} sum={sum:08x}", view.name(), view.dtype().to_string(), view.shape());
        count += 1;
        bytes += view.data().len();
    }
    println!("{count} tensors, {bytes} bytes");
    Ok(())
}
