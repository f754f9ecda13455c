//! Encode and decode throughput of the Gorilla XOR chunk on 120-sample chunks (the size the
//! head cuts at), for a node-exporter-like counter and a random-walk gauge.
//!
//! Run: `cargo bench -p vigil-benches --bench chunk`; criterion reports samples/s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_model::Sample;
use vigil_tsdb::chunk::{XorChunk, decode_xor};

const SAMPLES_PER_CHUNK: usize = 120;
const SCRAPE_INTERVAL_MS: i64 = 15_000;
const START_MS: i64 = 1_700_000_000_000;

/// Deterministic xorshift, so every run measures the same series.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Scrape timestamps on a 15 s grid where about one scrape in ten is 1–2 ms late, as with
/// Prometheus' scrape timestamp tolerance.
fn scrape_timestamps(rng: &mut Rng) -> Vec<i64> {
    (0..SAMPLES_PER_CHUNK as i64)
        .map(|i| {
            let jitter_ms = match rng.next_u64() % 20 {
                0 => 1,
                1 => 2,
                _ => 0,
            };
            START_MS + i * SCRAPE_INTERVAL_MS + jitter_ms
        })
        .collect()
}

/// Like `node_network_receive_packets_total`: an integer counter growing by small steps.
fn counter_series() -> Vec<Sample> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut value = 48_213_907.0;
    scrape_timestamps(&mut rng)
        .into_iter()
        .map(|timestamp_ms| {
            value += (rng.next_u64() % 200) as f64;
            Sample::new(timestamp_ms, value)
        })
        .collect()
}

/// A gauge doing a full-precision random walk, the hardest case for XOR compression.
fn gauge_series() -> Vec<Sample> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut value = 0.42;
    scrape_timestamps(&mut rng)
        .into_iter()
        .map(|timestamp_ms| {
            value += rng.next_f64() - 0.5;
            Sample::new(timestamp_ms, value)
        })
        .collect()
}

fn encode(samples: &[Sample]) -> XorChunk {
    let mut chunk = XorChunk::new();
    for sample in samples {
        chunk.append(sample.timestamp_ms, sample.value);
    }
    chunk
}

fn bench_xor_chunk(c: &mut Criterion) {
    for (name, samples) in [
        ("counter", counter_series()),
        ("gauge_random_walk", gauge_series()),
    ] {
        let chunk = encode(&samples);
        println!(
            "{name}: {} bytes for {} samples ({:.2} B/sample)",
            chunk.bytes().len(),
            samples.len(),
            chunk.bytes().len() as f64 / samples.len() as f64
        );

        let mut group = c.benchmark_group(format!("xor_chunk/{name}"));
        group.throughput(Throughput::Elements(samples.len() as u64));
        group.bench_function("encode", |b| b.iter(|| encode(black_box(&samples))));
        group.bench_function("decode_iter", |b| {
            b.iter(|| {
                let mut sum = 0.0;
                for sample in black_box(&chunk).iter() {
                    sum += sample.value;
                }
                sum
            })
        });
        group.bench_function("decode_vec", |b| {
            b.iter(|| decode_xor(black_box(chunk.bytes())))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_xor_chunk);
criterion_main!(benches);
