//! The `index` file: symbol table, series, postings and table of contents.
//!
//! See `docs/format/block.md` for the byte layout. Decoding treats the file as untrusted.

use std::collections::BTreeSet;
use std::io;

use roaring::RoaringBitmap;
use vigil_model::{Label, Labels};

use super::chunks::{CHUNKS_HEADER_LEN, RECORD_OVERHEAD, check_header};
use super::encoding::{Decoder, Reason, put_uvarint, put_varint};
use super::{BlockSeries, ChunkMeta, FORMAT_VERSION};
use crate::postings::MemPostings;

/// Magic bytes opening an `index` file.
pub(crate) const INDEX_MAGIC: [u8; 4] = *b"VGIX";

/// Length of the `index` header: magic and version byte.
const INDEX_HEADER_LEN: usize = 5;

/// Length of the table of contents: six `u64` and a CRC32C.
const TOC_LEN: usize = 6 * 8 + 4;

/// Length of the CRC32C trailing each section.
const SECTION_CRC_LEN: usize = 4;

/// Smallest encoded series entry: label count, one label (two refs) and a chunk count.
const MIN_SERIES_LEN: usize = 4;
/// Smallest encoded chunk meta: five varints.
const MIN_CHUNK_META_LEN: usize = 5;
/// Smallest encoded postings entry: two refs and a length (an empty bitmap is rejected later).
const MIN_POSTINGS_ENTRY_LEN: usize = 3;

/// The decoded contents of an `index` file.
#[derive(Debug)]
pub(crate) struct IndexContents {
    /// Series sorted by labels; a series' id is its position.
    pub(crate) series: Vec<BlockSeries>,
    /// The stored postings, checked to match `series`.
    pub(crate) postings: MemPostings,
    /// Number of chunks over all series.
    pub(crate) num_chunks: u64,
    /// Number of samples over all chunks.
    pub(crate) num_samples: u64,
}

/// What the index decoder checks chunk metas against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IndexLimits {
    /// Size of the block's `chunks` file.
    pub(crate) chunks_file_len: u64,
    /// The block's inclusive minimum time (ms).
    pub(crate) min_time_ms: i64,
    /// The block's exclusive maximum time (ms).
    pub(crate) max_time_ms: i64,
}

/// Encodes the index of `series`, which must be sorted by labels with unique label sets.
pub(crate) fn encode_index(series: &[BlockSeries]) -> io::Result<Vec<u8>> {
    debug_assert!(series.windows(2).all(|w| w[0].labels < w[1].labels));
    let symbols: Vec<&str> = series
        .iter()
        .flat_map(|s| s.labels.iter())
        .flat_map(|label| [label.name.as_str(), label.value.as_str()])
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .collect();
    let symbol_ref = |symbol: &str| -> u64 {
        let position = symbols.binary_search(&symbol);
        // Every symbol was collected from `series` above, so the search always hits.
        debug_assert!(position.is_ok(), "symbol {symbol:?} missing from the table");
        position.unwrap_or_else(|insertion_point| insertion_point) as u64
    };

    let mut file = Vec::new();
    file.extend_from_slice(&INDEX_MAGIC);
    file.push(FORMAT_VERSION);

    let mut payload = Vec::new();
    put_uvarint(&mut payload, symbols.len() as u64);
    for symbol in &symbols {
        put_uvarint(&mut payload, symbol.len() as u64);
        payload.extend_from_slice(symbol.as_bytes());
    }
    let symbols_section = append_section(&mut file, &payload);

    payload.clear();
    put_uvarint(&mut payload, series.len() as u64);
    for entry in series {
        put_uvarint(&mut payload, entry.labels.len() as u64);
        for label in &entry.labels {
            put_uvarint(&mut payload, symbol_ref(&label.name));
            put_uvarint(&mut payload, symbol_ref(&label.value));
        }
        put_uvarint(&mut payload, entry.chunks.len() as u64);
        let mut previous_max_time: Option<i64> = None;
        for chunk in &entry.chunks {
            debug_assert!(chunk.min_time_ms <= chunk.max_time_ms);
            // Wrapping arithmetic on both sides keeps any pair of times representable.
            match previous_max_time {
                None => put_varint(&mut payload, chunk.min_time_ms),
                Some(previous) => {
                    put_varint(&mut payload, chunk.min_time_ms.wrapping_sub(previous))
                }
            }
            put_uvarint(&mut payload, chunk.max_time_ms.abs_diff(chunk.min_time_ms));
            put_uvarint(&mut payload, u64::from(chunk.num_samples));
            put_uvarint(&mut payload, chunk.offset);
            put_uvarint(&mut payload, u64::from(chunk.data_len));
            previous_max_time = Some(chunk.max_time_ms);
        }
    }
    let series_section = append_section(&mut file, &payload);

    let mut postings = MemPostings::new();
    for (id, entry) in series.iter().enumerate() {
        postings.add(id as u32, &entry.labels);
    }
    payload.clear();
    put_uvarint(&mut payload, postings.num_label_pairs() as u64);
    let mut bitmap_bytes = Vec::new();
    for (name, value, bitmap) in postings.iter_postings() {
        put_uvarint(&mut payload, symbol_ref(name));
        put_uvarint(&mut payload, symbol_ref(value));
        // Run containers make the long id ranges of popular label values tiny.
        let mut optimized = bitmap.clone();
        optimized.optimize();
        bitmap_bytes.clear();
        optimized.serialize_into(&mut bitmap_bytes)?;
        put_uvarint(&mut payload, bitmap_bytes.len() as u64);
        payload.extend_from_slice(&bitmap_bytes);
    }
    let postings_section = append_section(&mut file, &payload);

    let toc_start = file.len();
    for (offset, len) in [symbols_section, series_section, postings_section] {
        file.extend_from_slice(&offset.to_le_bytes());
        file.extend_from_slice(&len.to_le_bytes());
    }
    let toc_crc = crc32c::crc32c(&file[toc_start..]);
    file.extend_from_slice(&toc_crc.to_le_bytes());
    Ok(file)
}

/// Appends `payload` and its CRC32C; returns the payload's offset and length.
fn append_section(file: &mut Vec<u8>, payload: &[u8]) -> (u64, u64) {
    let offset = file.len() as u64;
    file.extend_from_slice(payload);
    file.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    (offset, payload.len() as u64)
}

/// Decodes and cross-checks a whole `index` file.
pub(crate) fn decode_index(file: &[u8], limits: IndexLimits) -> Result<IndexContents, Reason> {
    if file.len() < INDEX_HEADER_LEN + TOC_LEN {
        return Err(format!(
            "file is {} bytes, shorter than header and table of contents ({} bytes)",
            file.len(),
            INDEX_HEADER_LEN + TOC_LEN
        ));
    }
    check_header(file, INDEX_MAGIC)?;
    let [symbols, series, postings] = read_toc(file)?;

    let symbols = decode_symbols(symbols)?;
    let mut contents = decode_series(series, &symbols, limits)?;
    contents.postings = decode_postings(postings, &symbols, contents.series.len())?;
    check_postings_match_series(&contents)?;
    Ok(contents)
}

/// Reads the table of contents and returns the three verified section payloads.
fn read_toc(file: &[u8]) -> Result<[&[u8]; 3], Reason> {
    let toc_start = file.len() - TOC_LEN;
    let toc = &file[toc_start..];
    let mut decoder = Decoder::new(toc);
    let mut entries = [(0u64, 0u64); 3];
    for entry in &mut entries {
        *entry = (
            decoder.u64_le("section offset")?,
            decoder.u64_le("section length")?,
        );
    }
    let stored_crc = decoder.u32_le("table of contents crc32c")?;
    let computed_crc = crc32c::crc32c(&toc[..TOC_LEN - 4]);
    if stored_crc != computed_crc {
        return Err(format!(
            "table of contents crc32c mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"
        ));
    }

    let names = ["symbol table", "series", "postings"];
    let mut sections: [&[u8]; 3] = [&[]; 3];
    let mut expected_offset = INDEX_HEADER_LEN as u64;
    for ((name, (offset, len)), section) in names.iter().zip(entries).zip(&mut sections) {
        if offset != expected_offset {
            return Err(format!(
                "{name} section starts at offset {offset}, expected {expected_offset}"
            ));
        }
        let end = offset
            .checked_add(len)
            .and_then(|end| end.checked_add(SECTION_CRC_LEN as u64))
            .filter(|&end| end <= toc_start as u64)
            .ok_or_else(|| {
                format!(
                    "{name} section of {len} bytes at offset {offset} runs past the table of contents at {toc_start}"
                )
            })?;
        // Both bounds are at most `toc_start`, a valid index into `file`.
        let payload = &file[offset as usize..(end as usize - SECTION_CRC_LEN)];
        let mut crc_decoder = Decoder::new(&file[end as usize - SECTION_CRC_LEN..end as usize]);
        let stored_crc = crc_decoder.u32_le("section crc32c")?;
        let computed_crc = crc32c::crc32c(payload);
        if stored_crc != computed_crc {
            return Err(format!(
                "{name} section crc32c mismatch: stored {stored_crc:#010x}, computed {computed_crc:#010x}"
            ));
        }
        *section = payload;
        expected_offset = end;
    }
    if expected_offset != toc_start as u64 {
        return Err(format!(
            "{} unexpected bytes between the postings section and the table of contents",
            toc_start as u64 - expected_offset
        ));
    }
    Ok(sections)
}

fn decode_symbols(payload: &[u8]) -> Result<Vec<&str>, Reason> {
    let context = |reason: Reason| format!("symbol table: {reason}");
    let mut decoder = Decoder::new(payload);
    let count = decoder.count("symbol count", 2).map_err(context)?;
    let mut symbols: Vec<&str> = Vec::with_capacity(count);
    for index in 0..count {
        let len = decoder.uvarint_usize("symbol length").map_err(context)?;
        let bytes = decoder.bytes(len, "symbol").map_err(context)?;
        let symbol = std::str::from_utf8(bytes)
            .map_err(|err| context(format!("symbol {index} is not utf-8: {err}")))?;
        if symbol.is_empty() {
            return Err(context(format!("symbol {index} is empty")));
        }
        if let Some(previous) = symbols.last().filter(|previous| **previous >= symbol) {
            return Err(context(format!(
                "symbol {index} {symbol:?} does not sort after {previous:?}"
            )));
        }
        symbols.push(symbol);
    }
    decoder.expect_end("the last symbol").map_err(context)?;
    Ok(symbols)
}

fn symbol<'a>(symbols: &[&'a str], symbol_ref: usize) -> Result<&'a str, Reason> {
    symbols.get(symbol_ref).copied().ok_or_else(|| {
        format!(
            "symbol ref {symbol_ref} is outside the symbol table of {} symbols",
            symbols.len()
        )
    })
}

fn decode_series(
    payload: &[u8],
    symbols: &[&str],
    limits: IndexLimits,
) -> Result<IndexContents, Reason> {
    let context = |reason: Reason| format!("series: {reason}");
    let mut decoder = Decoder::new(payload);
    let count = decoder
        .count("series count", MIN_SERIES_LEN)
        .map_err(context)?;
    if u32::try_from(count).is_err() {
        return Err(context(format!(
            "{count} series do not fit 32-bit series ids"
        )));
    }
    let mut contents = IndexContents {
        series: Vec::with_capacity(count),
        postings: MemPostings::new(),
        num_chunks: 0,
        num_samples: 0,
    };
    for id in 0..count {
        let context = |reason: Reason| format!("series {id}: {reason}");
        let entry = decode_series_entry(&mut decoder, symbols, limits).map_err(context)?;
        let previous = contents.series.last();
        if let Some(previous) = previous.filter(|previous| previous.labels >= entry.labels) {
            return Err(context(format!(
                "labels {} do not sort after the previous series {}",
                entry.labels, previous.labels
            )));
        }
        contents.num_chunks += entry.chunks.len() as u64;
        for chunk in &entry.chunks {
            contents.num_samples += u64::from(chunk.num_samples);
        }
        contents.series.push(entry);
    }
    decoder.expect_end("the last series").map_err(context)?;
    Ok(contents)
}

fn decode_series_entry(
    decoder: &mut Decoder<'_>,
    symbols: &[&str],
    limits: IndexLimits,
) -> Result<BlockSeries, Reason> {
    let label_count = decoder.count("label count", 2)?;
    if label_count == 0 {
        return Err("series has no labels".to_owned());
    }
    let mut labels = Vec::with_capacity(label_count);
    let mut previous_name_ref: Option<usize> = None;
    for _ in 0..label_count {
        let name_ref = decoder.uvarint_usize("label name ref")?;
        let value_ref = decoder.uvarint_usize("label value ref")?;
        // Symbols are sorted, so increasing refs mean names sorted and unique, as `Labels` needs.
        if previous_name_ref.is_some_and(|previous| previous >= name_ref) {
            return Err(format!(
                "label name refs are not strictly increasing at ref {name_ref}"
            ));
        }
        previous_name_ref = Some(name_ref);
        labels.push(Label::new(
            symbol(symbols, name_ref)?,
            symbol(symbols, value_ref)?,
        ));
    }
    let labels = Labels::from_unsorted_unique(labels).map_err(|err| err.to_string())?;

    let context = |reason: Reason| format!("{labels}: {reason}");
    let chunk_count = decoder
        .count("chunk count", MIN_CHUNK_META_LEN)
        .map_err(context)?;
    let mut chunks = Vec::with_capacity(chunk_count);
    let mut previous_max_time: Option<i64> = None;
    for index in 0..chunk_count {
        let chunk = decode_chunk_meta(decoder, previous_max_time, limits)
            .map_err(|reason| context(format!("chunk {index}: {reason}")))?;
        previous_max_time = Some(chunk.max_time_ms);
        chunks.push(chunk);
    }
    Ok(BlockSeries { labels, chunks })
}

fn decode_chunk_meta(
    decoder: &mut Decoder<'_>,
    previous_max_time: Option<i64>,
    limits: IndexLimits,
) -> Result<ChunkMeta, Reason> {
    let encoded_min_time = decoder.varint("min time")?;
    let min_time_ms = match previous_max_time {
        None => encoded_min_time,
        Some(previous) => previous.wrapping_add(encoded_min_time),
    };
    let duration = decoder.uvarint("duration")?;
    let max_time_ms = min_time_ms
        .checked_add_unsigned(duration)
        .ok_or("max time overflows")?;
    let num_samples = decoder.uvarint_u32("sample count")?;
    let offset = decoder.uvarint("chunk offset")?;
    let data_len = decoder.uvarint_u32("chunk data length")?;

    if min_time_ms < limits.min_time_ms || max_time_ms >= limits.max_time_ms {
        return Err(format!(
            "time range [{min_time_ms}, {max_time_ms}] is outside the block's [{}, {})",
            limits.min_time_ms, limits.max_time_ms
        ));
    }
    let record_end = offset
        .checked_add(RECORD_OVERHEAD + u64::from(data_len))
        .filter(|&end| offset >= CHUNKS_HEADER_LEN && end <= limits.chunks_file_len);
    if record_end.is_none() {
        return Err(format!(
            "record of {data_len} data bytes at offset {offset} is outside the chunks file of {} bytes",
            limits.chunks_file_len
        ));
    }
    Ok(ChunkMeta {
        min_time_ms,
        max_time_ms,
        num_samples,
        offset,
        data_len,
    })
}

fn decode_postings(
    payload: &[u8],
    symbols: &[&str],
    num_series: usize,
) -> Result<MemPostings, Reason> {
    let context = |reason: Reason| format!("postings: {reason}");
    let mut decoder = Decoder::new(payload);
    let count = decoder
        .count("postings count", MIN_POSTINGS_ENTRY_LEN)
        .map_err(context)?;
    let mut postings = MemPostings::new();
    let mut previous_refs: Option<(usize, usize)> = None;
    for index in 0..count {
        let context = |reason: Reason| format!("postings entry {index}: {reason}");
        let name_ref = decoder.uvarint_usize("name ref").map_err(context)?;
        let value_ref = decoder.uvarint_usize("value ref").map_err(context)?;
        if previous_refs.is_some_and(|previous| previous >= (name_ref, value_ref)) {
            return Err(context(
                "label pairs are not strictly increasing".to_owned(),
            ));
        }
        previous_refs = Some((name_ref, value_ref));
        let name = symbol(symbols, name_ref).map_err(context)?;
        let value = symbol(symbols, value_ref).map_err(context)?;
        let context = |reason: Reason| format!("postings of {name}={value:?}: {reason}");

        let bitmap_len = decoder.uvarint_usize("bitmap length").map_err(context)?;
        let mut bitmap_bytes = decoder.bytes(bitmap_len, "bitmap").map_err(context)?;
        let bitmap = RoaringBitmap::deserialize_from(&mut bitmap_bytes)
            .map_err(|err| context(format!("invalid roaring bitmap: {err}")))?;
        if !bitmap_bytes.is_empty() {
            return Err(context(format!(
                "{} trailing bytes after the roaring bitmap",
                bitmap_bytes.len()
            )));
        }
        match bitmap.max() {
            None => return Err(context("empty bitmap".to_owned())),
            Some(max_id) if max_id as usize >= num_series => {
                return Err(context(format!(
                    "series id {max_id} is not below the series count {num_series}"
                )));
            }
            Some(_) => {}
        }
        postings.add_bitmap(name, value, &bitmap);
    }
    decoder
        .expect_end("the last postings entry")
        .map_err(context)?;
    Ok(postings)
}

/// Checks that the stored postings hold exactly the label pairs of the series: every
/// (pair, id) of the series is in the postings, and both sides count the same number of
/// (pair, id) entries.
fn check_postings_match_series(contents: &IndexContents) -> Result<(), Reason> {
    let mut series_pairs: u64 = 0;
    for (id, entry) in contents.series.iter().enumerate() {
        for label in &entry.labels {
            series_pairs += 1;
            let listed = contents
                .postings
                .postings(&label.name, &label.value)
                .is_some_and(|bitmap| bitmap.contains(id as u32));
            if !listed {
                return Err(format!(
                    "postings of {}={:?} lack series {id} {}",
                    label.name, label.value, entry.labels
                ));
            }
        }
    }
    let postings_pairs: u64 = contents
        .postings
        .iter_pairs()
        .map(|(_, _, count)| count)
        .sum();
    if postings_pairs != series_pairs {
        return Err(format!(
            "postings list {postings_pairs} series/label entries but the series hold {series_pairs}"
        ));
    }
    Ok(())
}
