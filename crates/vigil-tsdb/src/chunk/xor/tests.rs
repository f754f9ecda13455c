//! Tests of the XOR chunk: round trips, compression, the compat fixture, hostile input.

use proptest::prelude::*;
use vigil_model::{STALE_NAN_BITS, stale_nan};

use super::*;

fn encode(samples: &[Sample]) -> XorChunk {
    let mut chunk = XorChunk::new();
    for sample in samples {
        chunk.append(sample.timestamp_ms, sample.value);
    }
    chunk
}

fn samples_from(timestamps: &[i64], values: &[f64]) -> Vec<Sample> {
    timestamps
        .iter()
        .zip(values)
        .map(|(&timestamp_ms, &value)| Sample::new(timestamp_ms, value))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|digit| (digit as char).to_digit(16).unwrap() as u8)
        .collect();
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

/// Asserts that `samples` survive encode → bytes → decode bit-exactly, through every
/// decoding entry point.
fn assert_round_trip(samples: &[Sample]) -> XorChunk {
    let chunk = encode(samples);
    assert_eq!(chunk.num_samples(), samples.len());
    assert_eq!(
        chunk.first_timestamp(),
        samples.first().map(|s| s.timestamp_ms)
    );
    assert_eq!(
        chunk.last_timestamp(),
        samples.last().map(|s| s.timestamp_ms)
    );
    assert_eq!(decode_xor(chunk.bytes()).as_deref(), Ok(samples));
    let mut iter = chunk.iter();
    assert_eq!(iter.by_ref().collect::<Vec<_>>(), samples);
    assert_eq!(iter.error(), None);
    let restored = XorChunk::from_bytes(chunk.bytes().to_vec()).unwrap();
    assert_eq!(restored.iter().collect::<Vec<_>>(), samples);
    chunk
}

#[test]
fn empty_chunk_is_just_the_header() {
    let chunk = XorChunk::new();
    assert_eq!(chunk.bytes(), &[ENCODING_XOR, 0, 0]);
    assert_eq!(chunk.num_samples(), 0);
    assert_eq!(chunk.first_timestamp(), None);
    assert_eq!(chunk.last_timestamp(), None);
    assert_eq!(decode_xor(chunk.bytes()), Ok(vec![]));
    assert_eq!(chunk.iter().count(), 0);
    let mut restored = XorChunk::from_bytes(chunk.into_bytes()).unwrap();
    restored.append(5, 1.5);
    assert_eq!(decode_xor(restored.bytes()), Ok(vec![Sample::new(5, 1.5)]));
}

#[test]
fn special_values_round_trip_bit_exactly() {
    let values = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        stale_nan(),
        f64::from_bits(0x7ff8_0000_0000_0001),
        f64::from_bits(0xfff0_0000_0000_0001),
        f64::from_bits(1),
        f64::MIN_POSITIVE / 3.0,
        -f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0,
        stale_nan(),
        stale_nan(),
        0.0,
    ];
    let timestamps: Vec<i64> = (0..values.len() as i64)
        .map(|i| 1_000 + i * 15_000)
        .collect();
    let chunk = assert_round_trip(&samples_from(&timestamps, &values));
    let decoded = decode_xor(chunk.bytes()).unwrap();
    assert_eq!(decoded[6].value.to_bits(), STALE_NAN_BITS);
    assert_eq!(decoded[1].value.to_bits(), (-0.0f64).to_bits());
}

#[test]
fn extreme_timestamps_round_trip() {
    let cases: [&[i64]; 5] = [
        &[i64::MIN, i64::MAX],
        &[i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX],
        &[i64::MIN, -1, 0, 1, i64::MAX],
        &[i64::MIN, i64::MAX - 2, i64::MAX - 1, i64::MAX],
        &[-5, -4, i64::MAX - 10, i64::MAX - 9, i64::MAX],
    ];
    for timestamps in cases {
        let values = vec![42.0; timestamps.len()];
        assert_round_trip(&samples_from(timestamps, &values));
    }
}

#[test]
fn every_delta_of_delta_bucket_edge_round_trips() {
    let edges = [
        0i64,
        1,
        -1,
        8191,
        -8192,
        8192,
        -8193,
        65535,
        -65536,
        65536,
        -65537,
        524_287,
        -524_288,
        524_288,
        -524_289,
        1 << 40,
        -(1 << 40),
    ];
    for edge in edges {
        // Start with a large delta so negative delta-of-deltas keep timestamps increasing.
        let base_delta = 1i64 << 41;
        let timestamps = [
            0,
            base_delta,
            2 * base_delta + edge,
            3 * base_delta + 2 * edge,
        ];
        assert_round_trip(&samples_from(&timestamps, &[1.0, 2.0, 3.0, 4.0]));
    }
}

#[test]
fn huge_gaps_at_every_bit_alignment() {
    // The 64-bit delta-of-delta bucket followed by each kind of value, starting at every
    // bit offset the preceding samples can leave the stream at.
    let values = [
        1.0,
        1.0,
        3.5,
        -2.25e300,
        f64::from_bits(u64::MAX),
        0.0,
        stale_nan(),
    ];
    for prefix_len in 2..80i64 {
        for value in values {
            let mut samples: Vec<Sample> = (0..prefix_len)
                .map(|i| Sample::new(i * 1000 + i % 3, (i % 5) as f64 * 0.7))
                .collect();
            samples.push(Sample::new(i64::MAX / 2, value));
            samples.push(Sample::new(i64::MAX / 2 + 1, value * 3.0));
            samples.push(Sample::new(i64::MAX - 1, -value));
            samples.push(Sample::new(i64::MAX, value));
            assert_round_trip(&samples);
        }
    }
}

#[test]
fn bytes_decode_after_every_append() {
    let mut chunk = XorChunk::new();
    let mut expected = Vec::new();
    for step in 0..300i64 {
        let sample = Sample::new(
            1_700_000_000_000 + step * 15_000 + step % 7,
            (step * step) as f64 / 3.0,
        );
        chunk.append(sample.timestamp_ms, sample.value);
        expected.push(sample);
        assert_eq!(decode_xor(chunk.bytes()).as_deref(), Ok(&expected[..]));
    }
}

/// A deterministic xorshift generator, so the compression numbers are reproducible.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn compression_of_typical_series() {
    const SAMPLES: usize = 120;
    const START_MS: i64 = 1_700_000_000_000;
    let timestamps: Vec<i64> = (0..SAMPLES as i64).map(|i| START_MS + i * 15_000).collect();

    let mut rng = 0x9E37_79B9_7F4A_7C15;
    let mut counter = 1_234_567.0;
    let counter_values: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            counter += (xorshift(&mut rng) % 10) as f64;
            counter
        })
        .collect();
    let counter_chunk = assert_round_trip(&samples_from(&timestamps, &counter_values));
    let counter_bytes_per_sample = counter_chunk.bytes().len() as f64 / SAMPLES as f64;

    let constant_chunk = assert_round_trip(&samples_from(&timestamps, &[1.0; SAMPLES]));
    let constant_bytes_per_sample = constant_chunk.bytes().len() as f64 / SAMPLES as f64;

    println!(
        "{SAMPLES} samples at 15 s: counter {} bytes ({counter_bytes_per_sample:.3} B/sample), \
         constant {} bytes ({constant_bytes_per_sample:.3} B/sample)",
        counter_chunk.bytes().len(),
        constant_chunk.bytes().len(),
    );
    assert!(counter_bytes_per_sample < 2.0, "{counter_bytes_per_sample}");
    // Gorilla's floor for a repeated sample is 2 bits (one for the timestamp, one for the
    // value). Header (3 B) + t₀ varint (6 B) + v₀ (8 B) + Δ₁ varint (2 B) + 1 bit for v₁
    // + 2 bits for each of the other 118 samples = 19 B + 237 bits = 49 B.
    let fixed_prefix_bytes = 3 + 6 + 8 + 2;
    assert_eq!(
        constant_chunk.bytes().len(),
        fixed_prefix_bytes + (1 + 2 * (SAMPLES - 2)).div_ceil(8)
    );
    assert!(
        constant_bytes_per_sample < 0.42,
        "{constant_bytes_per_sample}"
    );
}

/// Four samples produced once by this encoder; the on-disk format must keep decoding them
/// and the encoder must keep producing exactly these bytes.
#[test]
fn compat_fixture_v1() {
    let samples = [
        Sample::new(1_700_000_000_000, 1.0),
        Sample::new(1_700_000_015_000, 2.0),
        Sample::new(1_700_000_030_001, 2.0),
        Sample::new(1_700_000_045_001, stale_nan()),
    ];
    let fixture = from_hex(
        "01 0004 \
         80a0abfef962 3ff0000000000000 \
         9875 \
         c25fff 80015f ffe2f7ff00000000000020",
    );
    // 01                 encoding: xor v1
    // 0004               4 samples
    // 80a0abfef962       t₀: zigzag varint of 1700000000000
    // 3ff0000000000000   v₀: 1.0
    // 9875               Δ₁: varint 15000
    // bit stream:
    //   11 00001 001011 11111111111      v₁: new window L=1 S=11, 2.0 ^ 1.0 = 0x7ff0…
    //   10 00000000000001                Δ₂ - Δ₁ = +1
    //   0                                v₂ repeats
    //   10 11111111111111                Δ₃ - Δ₂ = -1
    //   11 00010 111101 <61 bits>        v₃: new window L=2 S=61, stale ^ 2.0
    //   00000                            padding
    assert_eq!(decode_xor(&fixture).as_deref(), Ok(&samples[..]));
    let encoded = encode(&samples);
    assert_eq!(
        hex(encoded.bytes()),
        hex(&fixture),
        "the encoder no longer produces the v1 fixture"
    );
}

#[test]
fn from_bytes_continues_as_if_never_stopped() {
    let samples: Vec<Sample> = (0..50)
        .map(|i| Sample::new(i * 10_000 + (i % 3), ((i * 37) % 11) as f64))
        .collect();
    let uninterrupted = encode(&samples);
    for split in 0..samples.len() {
        let mut resumed = XorChunk::from_bytes(encode(&samples[..split]).into_bytes()).unwrap();
        for sample in &samples[split..] {
            resumed.append(sample.timestamp_ms, sample.value);
        }
        assert_eq!(resumed.bytes(), uninterrupted.bytes(), "split at {split}");
        assert_eq!(resumed.first_timestamp(), uninterrupted.first_timestamp());
        assert_eq!(resumed.last_timestamp(), uninterrupted.last_timestamp());
    }
}

#[test]
fn header_errors() {
    assert_eq!(
        decode_xor(&[ENCODING_XOR, 0]),
        Err(ChunkError::TruncatedHeader {
            len: 2,
            header_len: 3
        })
    );
    assert_eq!(
        decode_xor(&[7, 0, 0]),
        Err(ChunkError::UnknownEncoding { encoding: 7 })
    );
    let mut iter = XorIter::new(&[]);
    assert_eq!(iter.next(), None);
    assert!(matches!(
        iter.error(),
        Some(ChunkError::TruncatedHeader { len: 0, .. })
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let samples: Vec<Sample> = (0..20)
        .map(|i| Sample::new(i * 1000, i as f64 * 0.1))
        .collect();
    let chunk = encode(&samples);
    let bytes = chunk.bytes();
    for len in 0..bytes.len() {
        let error = decode_xor(&bytes[..len]).unwrap_err();
        assert!(
            matches!(
                error,
                ChunkError::Truncated { .. } | ChunkError::TruncatedHeader { .. }
            ),
            "len {len}: {error}"
        );
        assert!(XorChunk::from_bytes(bytes[..len].to_vec()).is_err());
    }
    // A lenient reader still sees the samples before the cut.
    let mut iter = XorIter::new(&bytes[..bytes.len() / 2]);
    let prefix: Vec<Sample> = iter.by_ref().collect();
    assert!(!prefix.is_empty());
    assert_eq!(prefix, samples[..prefix.len()]);
    assert!(matches!(
        iter.error(),
        Some(ChunkError::Truncated {
            num_samples: 20,
            ..
        })
    ));
}

#[test]
fn trailing_bytes_and_padding_are_rejected() {
    let chunk = encode(&[Sample::new(1, 1.0), Sample::new(2, 1.0)]);
    // t₀ varint (1 B) + v₀ (8 B) + Δ₁ varint (1 B) + one `0` bit for v₁ → 7 padding bits.
    assert_eq!(chunk.bytes().len(), 3 + 1 + 8 + 1 + 1);

    let mut trailing = chunk.bytes().to_vec();
    trailing.push(0);
    assert_eq!(
        decode_xor(&trailing),
        Err(ChunkError::TrailingBytes {
            num_samples: 2,
            expected_len: 14,
            actual_len: 15
        })
    );

    let mut dirty_padding = chunk.bytes().to_vec();
    *dirty_padding.last_mut().unwrap() |= 0b0000_0001;
    assert_eq!(
        decode_xor(&dirty_padding),
        Err(ChunkError::NonZeroPadding {
            final_byte: 1,
            padding_bits: 7
        })
    );
    assert!(XorChunk::from_bytes(dirty_padding).is_err());
}

#[test]
fn non_increasing_timestamps_are_rejected() {
    // Header for two samples, t₀ = 5 (zigzag 10), v₀ = 0.0, Δ₁ = 0, v₁ repeated.
    let equal = [ENCODING_XOR, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        decode_xor(&equal),
        Err(ChunkError::TimestampNotIncreasing {
            sample_index: 1,
            timestamp_ms: 5,
            previous_timestamp_ms: 5
        })
    );
    // Δ₁ = 2^64 - 1 wraps around to t₁ = 4.
    let mut backwards = vec![ENCODING_XOR, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0];
    backwards.extend([0xFF; 9]);
    backwards.extend([0x01, 0x00]);
    assert!(matches!(
        decode_xor(&backwards),
        Err(ChunkError::TimestampNotIncreasing {
            sample_index: 1,
            timestamp_ms: 4,
            ..
        })
    ));
}

#[test]
fn corrupt_value_headers_are_rejected() {
    let prefix = [ENCODING_XOR, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    // `10`: reuse a window that was never written.
    let mut missing_window = prefix.to_vec();
    missing_window.extend([0b1000_0000, 0]);
    assert_eq!(
        decode_xor(&missing_window),
        Err(ChunkError::MissingXorWindow { sample_index: 1 })
    );
    // `11`, 31 leading zeros, 52 significant bits: 83 > 64.
    let mut invalid_window = prefix.to_vec();
    invalid_window.extend([0b1111_1111, 0b1010_0000, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode_xor(&invalid_window),
        Err(ChunkError::InvalidXorWindow {
            sample_index: 1,
            leading_zeros: 31,
            significant_bits: 52
        })
    );
    let mut overlong_varint = vec![ENCODING_XOR, 0, 1];
    overlong_varint.extend([0xFF; 9]);
    overlong_varint.extend([0x02]);
    assert_eq!(
        decode_xor(&overlong_varint),
        Err(ChunkError::VarintOverflow { sample_index: 0 })
    );
}

#[test]
fn a_full_chunk_is_reported() {
    let mut chunk = XorChunk::new();
    for timestamp in 0..MAX_SAMPLES as i64 {
        chunk.append(timestamp, 0.5);
    }
    assert!(chunk.is_full());
    assert_eq!(chunk.bytes()[1..3], [0xFF, 0xFF]);
    let decoded = decode_xor(chunk.bytes()).unwrap();
    assert_eq!(decoded.len(), MAX_SAMPLES);
}

#[test]
#[should_panic(expected = "maximum of 65535 samples")]
fn appending_to_a_full_chunk_panics() {
    let mut chunk = XorChunk::new();
    for timestamp in 0..=MAX_SAMPLES as i64 {
        chunk.append(timestamp, 0.5);
    }
}

fn special_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(stale_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::from_bits(1)),
        Just(f64::MIN_POSITIVE / 7.0),
        Just(f64::MAX),
    ]
}

/// Increasing timestamps: anywhere in `i64`, realistic scrapes with jitter, or a mix of
/// tiny and enormous gaps.
fn increasing_timestamps() -> impl Strategy<Value = Vec<i64>> {
    prop_oneof![
        prop::collection::btree_set(any::<i64>(), 0..150)
            .prop_map(|set| set.into_iter().collect::<Vec<_>>()),
        (
            any::<i64>(),
            1i64..120_000,
            prop::collection::vec(-2_000i64..2_000, 0..150)
        )
            .prop_map(|(start, interval, jitters)| {
                let mut timestamp = start;
                let mut timestamps = vec![];
                for jitter in jitters {
                    timestamps.push(timestamp);
                    let step = (interval + jitter).max(1);
                    match timestamp.checked_add(step) {
                        Some(next) => timestamp = next,
                        None => break,
                    }
                }
                timestamps
            }),
        (
            any::<i64>(),
            prop::collection::vec(prop_oneof![1u64..100, any::<u64>(), Just(u64::MAX)], 0..40)
        )
            .prop_map(|(start, gaps)| {
                let mut timestamps = vec![start];
                for gap in gaps {
                    let last = timestamps[timestamps.len() - 1];
                    let next = i128::from(last) + i128::from(gap);
                    match i64::try_from(next) {
                        Ok(next) => timestamps.push(next),
                        Err(_) => break,
                    }
                }
                timestamps
            }),
    ]
}

/// `len` values: arbitrary bit patterns, a counter, a constant, or a mixture.
fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec(any::<u64>().prop_map(f64::from_bits), len),
        (0u64..1 << 40, prop::collection::vec(0u32..20, len)).prop_map(|(start, increments)| {
            increments
                .iter()
                .scan(start as f64, |counter, &increment| {
                    *counter += f64::from(increment);
                    Some(*counter)
                })
                .collect()
        }),
        any::<u64>().prop_map(move |bits| vec![f64::from_bits(bits); len]),
        prop::collection::vec(
            prop_oneof![
                special_value(),
                (-1_000i32..1_000).prop_map(f64::from),
                any::<f64>(),
                any::<u64>().prop_map(f64::from_bits),
            ],
            len
        ),
    ]
}

fn series() -> impl Strategy<Value = Vec<Sample>> {
    increasing_timestamps()
        .prop_flat_map(|timestamps| {
            let len = timestamps.len();
            (Just(timestamps), values(len))
        })
        .prop_map(|(timestamps, values)| samples_from(&timestamps, &values))
}

/// Valid chunk bytes with random damage: bit flips and a random cut.
fn damaged_chunk() -> impl Strategy<Value = Vec<u8>> {
    (
        series(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(samples, flips, cut)| {
            let mut bytes = encode(&samples).into_bytes();
            for flip in flips {
                let bit = flip.index(bytes.len() * 8);
                bytes[bit / 8] ^= 0x80 >> (bit % 8);
            }
            let len = bytes.len();
            bytes.truncate(len - cut.index(len / 4 + 1));
            bytes
        })
}

/// Decodes untrusted bytes every way there is and checks the answers agree.
fn check_untrusted(bytes: &[u8]) -> Result<(), TestCaseError> {
    let strict = decode_xor(bytes);
    let mut iter = XorIter::new(bytes);
    let lenient: Vec<Sample> = iter.by_ref().collect();
    let restored = XorChunk::from_bytes(bytes.to_vec());
    match &strict {
        Ok(samples) => {
            prop_assert_eq!(&lenient, samples);
            prop_assert_eq!(iter.error(), None);
            let mut chunk = restored.unwrap();
            prop_assert_eq!(chunk.num_samples(), samples.len());
            // A restored chunk stays appendable and decodable.
            let next_timestamp = chunk
                .last_timestamp()
                .map_or(Some(0), |last| last.checked_add(1));
            if let Some(timestamp) = next_timestamp.filter(|_| !chunk.is_full()) {
                chunk.append(timestamp, 3.25);
                let decoded = decode_xor(chunk.bytes()).unwrap();
                prop_assert_eq!(&decoded[..samples.len()], &samples[..]);
            }
        }
        Err(error) => {
            prop_assert_eq!(iter.error(), Some(error));
            prop_assert_eq!(restored.unwrap_err(), error.clone());
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn round_trips_bit_exactly(samples in series()) {
        let chunk = encode(&samples);
        prop_assert_eq!(decode_xor(chunk.bytes()), Ok(samples.clone()));
        prop_assert_eq!(chunk.iter().collect::<Vec<_>>(), samples.clone());
        prop_assert_eq!(chunk.first_timestamp(), samples.first().map(|s| s.timestamp_ms));
        prop_assert_eq!(chunk.last_timestamp(), samples.last().map(|s| s.timestamp_ms));
    }

    #[test]
    fn resumed_chunk_continues_identically(samples in series(), split in any::<prop::sample::Index>()) {
        let split = split.index(samples.len() + 1);
        let uninterrupted = encode(&samples);
        let mut resumed = XorChunk::from_bytes(encode(&samples[..split]).into_bytes()).unwrap();
        for sample in &samples[split..] {
            resumed.append(sample.timestamp_ms, sample.value);
        }
        prop_assert_eq!(resumed.bytes(), uninterrupted.bytes());
        prop_assert_eq!(resumed.num_samples(), samples.len());
    }
}

proptest! {
    // Hostile input is cheap to generate and decode, so try a lot of it.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_untrusted(&bytes)?;
    }

    #[test]
    fn random_bodies_never_panic(
        num_samples in prop_oneof![0u16..8, any::<u16>()],
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = vec![ENCODING_XOR];
        bytes.extend(num_samples.to_be_bytes());
        bytes.extend(body);
        check_untrusted(&bytes)?;
    }

    #[test]
    fn damaged_chunks_never_panic(bytes in damaged_chunk()) {
        check_untrusted(&bytes)?;
    }
}
