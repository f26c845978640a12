//! Replays one fuzz input through its target's body: `cargo run -p snap-sim --example
//! replay_fuzz -- <target> <file>` (with `SYNCER_FUZZ_TRACE=1` for the syncer's trace).

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: replay_fuzz <target> <file>");
        std::process::exit(2);
    };
    let data = std::fs::read(&file).expect("readable input");
    snap_sim::fuzzing::replay(&target, &data);
    println!("{target}: {file} replays without a crash");
}
