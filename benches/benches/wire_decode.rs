//! Decoding throughput of an `AccountRange` of ~4,000 accounts with a 10-node proof.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snap_benches::account_range_fixture;
use snap_core::wire::{Limits, MessageId, SnapMessage, SnapVersion};
use std::hint::black_box;

fn wire_decode(c: &mut Criterion) {
    let message = SnapMessage::AccountRange(account_range_fixture(4_000, 10));
    let bytes = message.to_vec();
    let limits = Limits::default();
    let mut group = c.benchmark_group("wire_decode");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("account_range_4000", |b| {
        b.iter(|| {
            SnapMessage::decode(
                SnapVersion::V1,
                MessageId::AccountRange as u8,
                black_box(&bytes),
                &limits,
            )
            .expect("valid fixture")
        })
    });
    group.bench_function("account_range_4000_encode", |b| b.iter(|| black_box(&message).to_vec()));
    group.finish();
}

criterion_group!(benches, wire_decode);
criterion_main!(benches);
