//! Unordered, batch-at-a-time reads of log entries, for aggregations whose answer does not
//! depend on the order entries arrive in (counts and byte sums per window).
//!
//! [`LogQuerier::select_entries`](crate::LogQuerier::select_entries) merges every source
//! into one ordered sequence of owned entries: right for log queries, which stop at a limit,
//! but a full scan then pays a heap operation and an allocation per line. A scan instead
//! hands out independent [`LogScanPart`]s (e.g. one Parquet row group each) that callers
//! may read on several threads at once; each part yields [`LogBatch`]es that borrow the
//! store's decoded columns.
//!
//! Contract: over all parts, every entry the equivalent `select_entries` would return is
//! yielded exactly once (exact duplicates already dropped), and within a part in ascending
//! time order. Entries outside the range or failing `line_contains` may be yielded too
//! unless excluded by a batch's selection; callers filter again.

use vigil_model::{Labels, LogEntry};

use crate::StorageError;

/// Columns a scan must fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanColumns {
    /// Line text. Without it, batches may hold empty lines (a store still applies
    /// `line_contains` itself); counting entries never needs the text.
    pub lines: bool,
}

/// Rows of one stream, in ascending time order, borrowed from a store's decoded data.
#[derive(Debug, Clone, Copy)]
pub struct LogBatch<'a> {
    timestamps: &'a [i64],
    /// `rows + 1` offsets into `text`; row `i` is `text[offsets[i]..offsets[i + 1]]`.
    offsets: &'a [i32],
    text: &'a str,
    /// Structured metadata per row; `None` when no row has any.
    metadata: Option<&'a [Labels]>,
    /// Rows worth looking at (ascending); `None` means all of them.
    selection: Option<&'a [u32]>,
}

impl<'a> LogBatch<'a> {
    /// A batch over decoded columns; checks that the columns agree, so that the accessors
    /// cannot fail later.
    pub fn new(
        timestamps: &'a [i64],
        offsets: &'a [i32],
        text: &'a str,
        metadata: Option<&'a [Labels]>,
        selection: Option<&'a [u32]>,
    ) -> Result<Self, StorageError> {
        let rows = timestamps.len();
        let bad = |what: &str| Err(StorageError::Internal(format!("log batch: {what}")));
        if offsets.len() != rows + 1 {
            return bad("offsets do not match the rows");
        }
        if metadata.is_some_and(|m| m.len() != rows) {
            return bad("metadata does not match the rows");
        }
        let mut previous = 0usize;
        for (i, &offset) in offsets.iter().enumerate() {
            let Ok(offset) = usize::try_from(offset) else {
                return bad("negative offset");
            };
            if (i > 0 && offset < previous) || offset > text.len() || !text.is_char_boundary(offset)
            {
                return bad("offsets are not ordered character boundaries of the text");
            }
            previous = offset;
        }
        if let Some(rows_selected) = selection
            && (rows_selected.windows(2).any(|w| w[0] >= w[1])
                || rows_selected.last().is_some_and(|&r| r as usize >= rows))
        {
            return bad("selection is not ascending rows of the batch");
        }
        Ok(Self {
            timestamps,
            offsets,
            text,
            metadata,
            selection,
        })
    }

    /// Rows in the batch (selected or not).
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The rows to look at, ascending.
    pub fn rows(&self) -> impl Iterator<Item = usize> + 'a {
        let all = self.len();
        let selection = self.selection;
        let (selected, every) = match selection {
            Some(rows) => (Some(rows.iter().map(|&r| r as usize)), None),
            None => (None, Some(0..all)),
        };
        selected
            .into_iter()
            .flatten()
            .chain(every.into_iter().flatten())
    }

    /// Timestamp of `row` (ns).
    pub fn timestamp(&self, row: usize) -> i64 {
        self.timestamps[row]
    }

    /// Line of `row` (empty when the scan did not ask for lines).
    pub fn line(&self, row: usize) -> &'a str {
        let start = self.offsets[row] as usize;
        let end = self.offsets[row + 1] as usize;
        // `new` checked that offsets are ordered character boundaries within the text.
        self.text.get(start..end).unwrap_or_default()
    }

    /// Structured metadata of `row`, if any.
    pub fn metadata(&self, row: usize) -> Option<&'a Labels> {
        self.metadata.map(|m| &m[row])
    }
}

/// An independent piece of a scan: entries of one stream, readable on any thread.
pub trait LogScanPart: Send {
    /// The stream the part's entries belong to.
    fn stream(&self) -> &Labels;

    /// Reads the part, handing its batches to `visit` in time order. An error from `visit`
    /// stops the read and is returned.
    fn read(
        self: Box<Self>,
        visit: &mut dyn FnMut(&LogBatch<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
}

/// Rows per batch of [`EntriesPart`].
const OWNED_BATCH_ROWS: usize = 4096;

/// A [`LogScanPart`] over entries already in memory (a head snapshot, or the merged read of
/// a store without a native scan).
pub struct EntriesPart {
    stream: Labels,
    entries: Vec<LogEntry>,
}

impl EntriesPart {
    /// A part holding `entries` (ascending time) of `stream`.
    pub fn new(stream: Labels, entries: Vec<LogEntry>) -> Self {
        Self { stream, entries }
    }
}

impl LogScanPart for EntriesPart {
    fn stream(&self) -> &Labels {
        &self.stream
    }

    fn read(
        self: Box<Self>,
        visit: &mut dyn FnMut(&LogBatch<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut text = String::new();
        let mut offsets = Vec::with_capacity(OWNED_BATCH_ROWS + 1);
        let mut timestamps = Vec::with_capacity(OWNED_BATCH_ROWS);
        let mut metadata = Vec::with_capacity(OWNED_BATCH_ROWS);
        for chunk in self.entries.chunks(OWNED_BATCH_ROWS) {
            text.clear();
            offsets.clear();
            timestamps.clear();
            metadata.clear();
            offsets.push(0);
            for entry in chunk {
                text.push_str(&entry.line);
                let end = i32::try_from(text.len())
                    .map_err(|_| StorageError::Internal("log batch: over 2 GiB of lines".into()))?;
                offsets.push(end);
                timestamps.push(entry.timestamp_ns);
                metadata.push(entry.structured_metadata.clone());
            }
            let any_metadata = metadata.iter().any(|m| !m.is_empty());
            let batch = LogBatch::new(
                &timestamps,
                &offsets,
                &text,
                any_metadata.then_some(metadata.as_slice()),
                None,
            )?;
            visit(&batch)?;
        }
        Ok(())
    }
}

/// Rows of `offsets`/`text` whose line contains every literal, found by searching the text
/// as one buffer (as `grep` does) rather than line by line. `offsets` has `rows + 1`
/// entries; empty literals match every line.
pub fn rows_containing(text: &str, offsets: &[i32], literals: &[String]) -> Vec<u32> {
    let rows = offsets.len().saturating_sub(1);
    let literals: Vec<&str> = literals
        .iter()
        .map(String::as_str)
        .filter(|l| !l.is_empty())
        .collect();
    // The longest literal is usually the rarest: search for it, check the others per line.
    let Some((lead_index, lead)) = literals
        .iter()
        .enumerate()
        .max_by_key(|(_, l)| l.len())
        .map(|(i, l)| (i, *l))
    else {
        return (0..rows as u32).collect();
    };
    let at = |row: usize| offsets[row].max(0) as usize;
    let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
        return Vec::new();
    };
    let base = first.max(0) as usize;
    let end = (last.max(0) as usize).min(text.len());
    let Some(haystack) = text.as_bytes().get(base..end) else {
        return Vec::new();
    };
    let finder = memchr::memmem::Finder::new(lead.as_bytes());
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut row = 0usize;
    while let Some(found) = finder.find(&haystack[pos..]) {
        let hit = base + pos + found;
        // The row whose line starts at or before the hit: skip rows ending at or before it.
        row += offsets[row + 1..].partition_point(|&o| (o.max(0) as usize) <= hit);
        if row >= rows {
            break;
        }
        let line_end = at(row + 1);
        if hit + lead.len() <= line_end {
            let line = &text.as_bytes()[at(row)..line_end];
            let others = literals
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != lead_index)
                .all(|(_, l)| memchr::memmem::find(line, l.as_bytes()).is_some());
            if others {
                out.push(row as u32);
            }
            // One hit per line is enough.
            pos = line_end - base;
        } else {
            // The hit spans a line break: look again from the next byte.
            pos += found + 1;
        }
        if pos >= haystack.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(lines: &[&str]) -> (String, Vec<i32>) {
        let mut text = String::new();
        let mut offsets = vec![0];
        for line in lines {
            text.push_str(line);
            offsets.push(text.len() as i32);
        }
        (text, offsets)
    }

    fn naive(lines: &[&str], literals: &[String]) -> Vec<u32> {
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| literals.iter().all(|lit| l.contains(lit.as_str())))
            .map(|(i, _)| i as u32)
            .collect()
    }

    #[test]
    fn rows_containing_finds_each_matching_line_once() {
        let lines = [
            "aaa needle",
            "",
            "needle needle",
            "nee",
            "dle",
            "x",
            "needle",
        ];
        let (text, offsets) = columns(&lines);
        let literals = vec!["needle".to_string()];
        assert_eq!(rows_containing(&text, &offsets, &literals), vec![0, 2, 6]);
        // A hit across a line break ("nee" + "dle") is not a match.
        assert_eq!(naive(&lines, &literals), vec![0, 2, 6]);
        let both = vec!["needle".to_string(), "aaa".to_string()];
        assert_eq!(rows_containing(&text, &offsets, &both), vec![0]);
        assert_eq!(rows_containing(&text, &offsets, &[]).len(), lines.len());
    }

    #[test]
    fn batch_rejects_columns_that_disagree() {
        let (text, offsets) = columns(&["ab", "cd"]);
        assert!(LogBatch::new(&[1, 2], &offsets, &text, None, None).is_ok());
        assert!(LogBatch::new(&[1], &offsets, &text, None, None).is_err());
        assert!(LogBatch::new(&[1, 2], &[0, 3, 2], &text, None, None).is_err());
        assert!(LogBatch::new(&[1, 2], &offsets, &text, None, Some(&[1, 0])).is_err());
        assert!(LogBatch::new(&[1, 2], &offsets, &text, None, Some(&[2])).is_err());
        let (multi, multi_offsets) = columns(&["é"]);
        assert!(LogBatch::new(&[1], &[0, 1], &multi, None, None).is_err());
        let batch = LogBatch::new(&[1], &multi_offsets, &multi, None, None).unwrap();
        assert_eq!(batch.line(0), "é");
    }

    proptest::proptest! {
        #[test]
        fn rows_containing_agrees_with_a_line_by_line_search(
            lines in proptest::collection::vec("[ab\\n]{0,8}", 0..40),
            literals in proptest::collection::vec("[ab]{0,3}", 0..3),
        ) {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let (text, offsets) = columns(&refs);
            proptest::prop_assert_eq!(
                rows_containing(&text, &offsets, &literals),
                naive(&refs, &literals)
            );
        }
    }
}
