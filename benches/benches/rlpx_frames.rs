//! RLPx frame codec throughput (AES-256-CTR + keccak MACs), and the cost of a handshake.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snap_tokio_adapter::rlpx::{fixed_handshake, frame_codecs};
use std::hint::black_box;

fn rlpx_frames(c: &mut Criterion) {
    let (a, b) = fixed_handshake();
    let mut group = c.benchmark_group("rlpx_frames");
    for frame_size in [1024usize, 64 * 1024] {
        let payload = vec![0x5a; frame_size];
        let frames = (1 << 20) / frame_size;
        let (mut encoder, _) = frame_codecs(&a, 1 << 24);
        let (_, mut decoder) = frame_codecs(&b, 1 << 24);
        let mut wire = Vec::with_capacity((1 << 20) + frames * 64);
        group.throughput(Throughput::Bytes(1 << 20));
        group.bench_function(format!("seal_and_open_1MiB_in_{frame_size}B_frames"), |bench| {
            bench.iter(|| {
                wire.clear();
                for _ in 0..frames {
                    encoder.encode(black_box(&payload), &mut wire).expect("fits");
                }
                decoder.feed(&wire);
                let mut opened = 0;
                while let Some(frame) = decoder.next_frame().expect("valid") {
                    opened += frame.len();
                }
                assert_eq!(opened, 1 << 20);
            })
        });
    }
    group.finish();
    c.bench_function("rlpx_handshake_both_sides", |bench| bench.iter(fixed_handshake));
}

criterion_group!(benches, rlpx_frames);
criterion_main!(benches);
