//! Property tests: round trips of arbitrary batches, and any damage replays as a prefix.

use std::fs;

use proptest::prelude::*;
use proptest::sample::Index;
use vigil_wal::{FsyncMode, Wal, WalError};

use crate::support::{options, replay_all, segment_path};

fn record() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..48),
        2 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 1_000..70_000),
    ]
}

fn batch() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(record(), 0..6)
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<u8>>),
    Cut,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => batch().prop_map(Op::Append),
        1 => Just(Op::Cut),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone, Copy)]
enum DamageKind {
    Truncate,
    FlipByte(u8),
    AppendZeros,
}

fn damage_kind() -> impl Strategy<Value = DamageKind> {
    prop_oneof![
        Just(DamageKind::Truncate),
        (1..=255u8).prop_map(DamageKind::FlipByte),
        Just(DamageKind::AppendZeros),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_of_arbitrary_batches(
        ops in prop::collection::vec(op(), 0..30),
        segment_size in 8u64..4096,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let open = || Wal::open(options(dir.path(), segment_size, FsyncMode::None)).unwrap().0;
        let mut wal = open();
        let mut expected = Vec::new();
        for op in ops {
            match op {
                Op::Append(records) => {
                    expected.extend(records.iter().cloned());
                    wal.append_blocking(records).unwrap();
                }
                Op::Cut => {
                    wal.cut_segment().unwrap();
                }
                Op::Reopen => {
                    drop(wal);
                    wal = open();
                }
            }
        }
        drop(wal);
        let (wal, report) = Wal::open(options(dir.path(), segment_size, FsyncMode::None)).unwrap();
        prop_assert!(report.is_clean(), "{:?}", report);
        prop_assert_eq!(replay_all(&wal), expected);
    }

    #[test]
    fn any_damage_replays_a_prefix(
        batches in prop::collection::vec(prop::collection::vec(record(), 1..4), 1..12),
        segment_size in 32u64..256,
        target_segment in any::<Index>(),
        target_byte in any::<Index>(),
        damage in damage_kind(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let written: Vec<Vec<u8>> = batches.iter().flatten().cloned().collect();
        {
            let (wal, _) = Wal::open(options(dir.path(), segment_size, FsyncMode::None)).unwrap();
            for batch in batches {
                wal.append_blocking(batch).unwrap();
            }
        }
        let segments = {
            let (wal, _) = Wal::open(options(dir.path(), segment_size, FsyncMode::None)).unwrap();
            wal.segment_indexes().unwrap()
        };
        let path = segment_path(dir.path(), *target_segment.get(&segments));
        let mut bytes = fs::read(&path).unwrap();
        let position = target_byte.index(bytes.len());
        match damage {
            DamageKind::Truncate => bytes.truncate(position),
            DamageKind::FlipByte(mask) => bytes[position] ^= mask,
            DamageKind::AppendZeros => bytes.extend_from_slice(&[0; 100]),
        }
        fs::write(&path, &bytes).unwrap();

        let (wal, report) = match Wal::open(options(dir.path(), segment_size, FsyncMode::None)) {
            Ok(opened) => opened,
            Err(WalError::UnsupportedVersion { .. }) => {
                // Only a flipped version byte looks like a newer format; that is refused on purpose.
                prop_assert!(matches!(damage, DamageKind::FlipByte(_)) && position == 4);
                return Ok(());
            }
            Err(error) => panic!("open failed: {error}"),
        };
        let records = replay_all(&wal);
        prop_assert!(records.len() <= written.len());
        prop_assert_eq!(&records[..], &written[..records.len()]);
        // Every segment but the last is sealed by an end marker, so even a cut exactly at a
        // record boundary is noticed.
        if records.len() < written.len() {
            prop_assert!(!report.is_clean(), "{:?}", report);
        }
        wal.append_blocking(vec![b"after".to_vec()]).unwrap();
        drop(wal);
        let (wal, report) = Wal::open(options(dir.path(), segment_size, FsyncMode::None)).unwrap();
        prop_assert!(report.is_clean(), "{:?}", report);
        let mut expected = records;
        expected.push(b"after".to_vec());
        prop_assert_eq!(replay_all(&wal), expected);
    }
}
