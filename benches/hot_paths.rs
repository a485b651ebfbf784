//! Criterion benches of the hot paths, on the reference workload's spans:
//! OTLP protobuf decode → model, chunk encoding and decoding (strings inline; the string table
//! is part of the write-batch bench), index key encoding, one durable RocksDB write batch, and
//! reading one trace back.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use prost::Message;
use tracehound::bench::ingest::encode_request;
use tracehound::bench::workload::{GenTrace, Workload};
use tracehound::ingest::otlp::decode_export;
use tracehound::model::{SpanBatch, SpanKind};
use tracehound::storage::codec::{decode_chunk, ChunkEncoder, Inline};
use tracehound::storage::keys;
use tracehound::storage::rocks::{RocksOptions, RocksStore};
use tracehound::storage::TraceStore;

const TRACES_PER_BATCH: u64 = 50;

fn workload() -> Workload {
    Workload {
        traces: 100_000,
        seed: 42,
        end_ns: 1_900_000_000_000_000_000,
    }
}

fn traces(from: u64, n: u64) -> Vec<GenTrace> {
    let w = workload();
    (from..from + n).map(|i| w.trace(i)).collect()
}

fn batch(from: u64) -> SpanBatch {
    let body = encode_request(&traces(from, TRACES_PER_BATCH)).encode_to_vec();
    decode_export(&body).expect("decodes").batch
}

fn otlp_decode(c: &mut Criterion) {
    let body = encode_request(&traces(0, TRACES_PER_BATCH)).encode_to_vec();
    let mut g = c.benchmark_group("otlp");
    g.throughput(Throughput::Elements(TRACES_PER_BATCH * 10));
    g.bench_function("decode_to_model_500_spans", |b| {
        b.iter(|| decode_export(black_box(&body)).expect("decodes"))
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    let batch = batch(0);
    let trace: Vec<_> = batch.spans.iter().take(10).collect();
    let mut out = Vec::new();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(10));
    g.bench_function("encode_trace_chunk", |b| {
        b.iter(|| {
            let mut enc = ChunkEncoder::new();
            enc.encode(trace.iter().copied(), &mut Inline, &mut out);
            black_box(out.len())
        })
    });
    let mut enc = ChunkEncoder::new();
    enc.encode(trace.iter().copied(), &mut Inline, &mut out);
    let id = batch.spans[0].trace_id;
    let mut spans = Vec::new();
    g.bench_function("decode_trace_chunk", |b| {
        b.iter(|| {
            spans.clear();
            decode_chunk(id, black_box(&out), &Inline, &mut spans).expect("decodes");
            black_box(spans.len())
        })
    });
    g.finish();
}

fn key_encoding(c: &mut Criterion) {
    let rev = keys::rev_minute(1_900_000_000_000_000_000);
    let mut out = Vec::with_capacity(96);
    c.bench_function("keys/tag_term", |b| {
        b.iter(|| {
            out.clear();
            keys::tag_prefix(&mut out, "service-3", "attr.key_42", "value-123");
            black_box(keys::term_group_len(&out))
        })
    });
    c.bench_function("keys/operation_segment_key", |b| {
        b.iter(|| {
            out.clear();
            keys::operation_prefix(&mut out, "service-3", "service-3-op-2", SpanKind::Server);
            keys::push_segment_suffix(&mut out, rev, 42);
            black_box(out.len())
        })
    });
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(RocksStore::open(dir.path(), RocksOptions::default()).expect("opens"));
    let batches: Vec<SpanBatch> = (0..20).map(|i| batch(i * TRACES_PER_BATCH)).collect();
    let mut next = 0usize;
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(TRACES_PER_BATCH * 10));
    g.sample_size(30);
    g.bench_function("write_batch_500_spans", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % batches.len();
                &batches[next]
            },
            |batch| store.write(batch).expect("writes"),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let id = batches[3].spans[0].trace_id;
    c.bench_function("store/get_trace_10_spans", |b| {
        b.iter(|| black_box(store.get_trace(id).expect("reads").len()))
    });
}

criterion_group!(benches, otlp_decode, codec, key_encoding, store);
criterion_main!(benches);
