//! Repair on open: torn tails at every byte, corruption, holes, interrupted checkpoints.

use std::fs;
use std::path::Path;

use vigil_wal::{FsyncMode, RepairReport, Wal, WalError};

use crate::support::{checkpoint_path, copy_dir, numbered, open_and_replay, options, segment_path};

const MIB: u64 = 1 << 20;

/// Writes `records` into segment 0 of a fresh WAL in `dir`, one append each.
fn write_records(dir: &Path, records: &[Vec<u8>]) {
    let (wal, _) = Wal::open(options(dir, MIB, FsyncMode::None)).unwrap();
    for record in records {
        wal.append_blocking(vec![record.clone()]).unwrap();
    }
}

/// Opens a damaged WAL, checks it replays `expected`, then that appending still works.
/// Returns the report of the repairing open.
fn assert_repairs_to(dir: &Path, expected: &[Vec<u8>], case: &str) -> RepairReport {
    let (wal, records, repair_report) = open_and_replay(dir, MIB);
    assert_eq!(records, expected, "{case}");
    assert!(
        repair_report.dropped_segments.is_empty(),
        "{case}: {repair_report:?}"
    );
    wal.append_blocking(vec![b"after repair".to_vec()])
        .unwrap_or_else(|error| panic!("{case}: {error}"));
    drop(wal);
    let (_wal, records, report) = open_and_replay(dir, MIB);
    assert!(report.is_clean(), "{case}: second open {report:?}");
    let mut expected_after = expected.to_vec();
    expected_after.push(b"after repair".to_vec());
    assert_eq!(records, expected_after, "{case}");
    repair_report
}

/// Five records in segment 0, the last one 40 bytes; returns them, the segment's bytes and
/// where the last record starts (it is followed by the 16-byte end marker).
fn five_records(dir: &Path) -> (Vec<Vec<u8>>, Vec<u8>, usize) {
    let mut records = numbered("record", 0..4);
    records.push((0..40u8).collect());
    write_records(dir, &records);
    let segment_bytes = fs::read(segment_path(dir, 0)).unwrap();
    let last_record_start = segment_bytes.len() - (8 + 40) - 16;
    (records, segment_bytes, last_record_start)
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record() {
    let original = tempfile::tempdir().unwrap();
    let (records, segment_bytes, last_record_start) = five_records(original.path());
    let last_record_end = last_record_start + 8 + 40;
    let kept = &records[..records.len() - 1];

    for cut_len in last_record_start..last_record_end {
        let case = format!("truncated to {cut_len} bytes");
        let copy = tempfile::tempdir().unwrap();
        copy_dir(original.path(), copy.path());
        fs::write(segment_path(copy.path(), 0), &segment_bytes[..cut_len]).unwrap();
        let report = assert_repairs_to(copy.path(), kept, &case);
        if cut_len == last_record_start {
            // A crash between two appends: nothing to repair, the segment just gets sealed.
            assert!(report.is_clean(), "{case}: {report:?}");
            continue;
        }
        let truncation = report.truncation.unwrap_or_else(|| panic!("{case}"));
        assert_eq!(truncation.offset, last_record_start as u64, "{case}");
        assert_eq!(
            truncation.bytes_dropped,
            (cut_len - last_record_start) as u64,
            "{case}"
        );
        assert!(truncation.was_last_segment, "{case}");
    }
}

#[test]
fn torn_end_marker_keeps_every_record() {
    let original = tempfile::tempdir().unwrap();
    let (records, segment_bytes, last_record_start) = five_records(original.path());
    for cut_len in last_record_start + 8 + 40..segment_bytes.len() {
        let case = format!("truncated to {cut_len} bytes");
        let copy = tempfile::tempdir().unwrap();
        copy_dir(original.path(), copy.path());
        fs::write(segment_path(copy.path(), 0), &segment_bytes[..cut_len]).unwrap();
        assert_repairs_to(copy.path(), &records, &case);
    }
}

#[test]
fn flipped_byte_anywhere_in_the_last_record() {
    let original = tempfile::tempdir().unwrap();
    let (records, segment_bytes, last_record_start) = five_records(original.path());
    let kept = &records[..records.len() - 1];

    for position in last_record_start..last_record_start + 8 + 40 {
        for flip in [0x01u8, 0x80, 0xFF] {
            let case = format!("byte {position} xor {flip:#04x}");
            let copy = tempfile::tempdir().unwrap();
            copy_dir(original.path(), copy.path());
            let mut damaged = segment_bytes.clone();
            damaged[position] ^= flip;
            fs::write(segment_path(copy.path(), 0), &damaged).unwrap();
            let report = assert_repairs_to(copy.path(), kept, &case);
            let truncation = report.truncation.unwrap_or_else(|| panic!("{case}"));
            assert_eq!(truncation.offset, last_record_start as u64, "{case}");
        }
    }
}

#[test]
fn segment_cut_short_at_a_record_boundary_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let all = write_three_segments(dir.path());
    // Drop the last record and the end marker of segment 0: a clean-looking shorter file.
    let path = segment_path(dir.path(), 0);
    let bytes = fs::read(&path).unwrap();
    let last_record_len = 8 + "s0-2".len();
    fs::write(&path, &bytes[..bytes.len() - 16 - last_record_len]).unwrap();

    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert_eq!(records, all[..2]);
    let truncation = report.truncation.clone().unwrap();
    assert_eq!((truncation.segment, truncation.bytes_dropped), (0, 0));
    assert!(
        truncation.reason.contains("end marker"),
        "{}",
        truncation.reason
    );
    assert_eq!(report.dropped_segments, [1, 2]);
    assert_eq!(wal.segment_indexes().unwrap(), [0, 1]);
}

#[test]
fn zero_filled_tail_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let records = numbered("record", 0..3);
    write_records(dir.path(), &records);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&path, &bytes).unwrap();
    let report = assert_repairs_to(dir.path(), &records, "zero-filled tail");
    assert_eq!(report.truncation.unwrap().bytes_dropped, 4096);
}

#[test]
fn torn_header_of_the_last_segment_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
        wal.append_blocking(numbered("kept", 0..2)).unwrap();
        wal.cut_segment().unwrap();
    }
    fs::write(segment_path(dir.path(), 1), b"VWA").unwrap();
    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert_eq!(records, numbered("kept", 0..2));
    let truncation = report.truncation.unwrap();
    assert!(truncation.file_deleted && truncation.was_last_segment);
    assert_eq!(truncation.bytes_dropped, 3);
    assert_eq!(wal.segment_indexes().unwrap(), [0, 1]);
}

/// Writes segments 0..3 with three records each and returns all records.
fn write_three_segments(dir: &Path) -> Vec<Vec<u8>> {
    let (wal, _) = Wal::open(options(dir, MIB, FsyncMode::Batch)).unwrap();
    let mut all = Vec::new();
    for segment in 0..3 {
        let records = numbered(&format!("s{segment}"), 0..3);
        wal.append_blocking(records.clone()).unwrap();
        all.extend(records);
        if segment < 2 {
            wal.cut_segment().unwrap();
        }
    }
    all
}

#[test]
fn corruption_in_an_earlier_segment_drops_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let all = write_three_segments(dir.path());
    // Damage the second record of segment 1: "s1-1" starts at 8 + 12.
    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8 + 12 + 9] ^= 0x20;
    let len_before = bytes.len() as u64;
    fs::write(&path, &bytes).unwrap();

    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert_eq!(records, all[..4]);
    let truncation = report.truncation.clone().unwrap();
    assert_eq!(truncation.segment, 1);
    assert_eq!(truncation.offset, 20);
    assert_eq!(truncation.bytes_dropped, len_before - 20);
    assert!(!truncation.was_last_segment);
    assert!(truncation.reason.contains("crc"), "{}", truncation.reason);
    assert_eq!(report.dropped_segments, [2]);
    assert!(!report.is_clean());
    // The writer continues right after the truncated segment.
    assert_eq!(wal.segment_indexes().unwrap(), [0, 1, 2]);
    wal.append_blocking(vec![b"new".to_vec()]).unwrap();
    drop(wal);
    let (_wal, records, report) = open_and_replay(dir.path(), MIB);
    assert!(report.is_clean());
    let mut expected = all[..4].to_vec();
    expected.push(b"new".to_vec());
    assert_eq!(records, expected);
}

#[test]
fn a_missing_segment_drops_the_segments_after_the_hole() {
    let dir = tempfile::tempdir().unwrap();
    let all = write_three_segments(dir.path());
    fs::remove_file(segment_path(dir.path(), 1)).unwrap();
    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    assert_eq!(records, all[..3]);
    assert_eq!(report.missing_segment, Some(1));
    assert_eq!(report.dropped_segments, [2]);
    assert_eq!(wal.segment_indexes().unwrap(), [0, 1]);
}

#[test]
fn interrupted_checkpoint_leftovers_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let all = write_three_segments(dir.path());
    {
        let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
        wal.write_checkpoint(2, [b"state".to_vec()]).unwrap();
    }
    // Simulate a crash before cleanup and during a later checkpoint.
    fs::write(segment_path(dir.path(), 0), b"replaced").unwrap();
    fs::write(checkpoint_path(dir.path(), 1), b"older").unwrap();
    let temp = dir.path().join("checkpoint.00000000000000000004.tmp");
    fs::write(&temp, b"half written").unwrap();

    let (wal, records, report) = open_and_replay(dir.path(), MIB);
    let mut expected = vec![b"state".to_vec()];
    expected.extend_from_slice(&all[6..]);
    assert_eq!(records, expected);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.removed_stale_files.len(), 3);
    assert!(!temp.exists());
    assert_eq!(wal.segment_indexes().unwrap(), [2, 3, 4]);
}

#[test]
fn corrupt_checkpoint_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _) = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap();
        wal.cut_segment().unwrap();
        wal.write_checkpoint(1, numbered("state", 0..3)).unwrap();
    }
    let path = checkpoint_path(dir.path(), 1);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let error = Wal::open(options(dir.path(), MIB, FsyncMode::Batch)).unwrap_err();
    assert!(
        matches!(error, WalError::CorruptCheckpoint { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("checkpoint.00000000000000000001")
    );
}
