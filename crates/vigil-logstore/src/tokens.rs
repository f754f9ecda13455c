//! The token keys of the content index's per-row-group Bloom filters, which prune `|=`
//! literals that the trigram index cannot: random identifiers (trace ids, block ids, UUID
//! parts) put every trigram of their alphabet into every row group, but each one is a rare
//! *token*.
//!
//! A token is a maximal run of token bytes (ASCII letters, digits, `_`, and every byte of a
//! multi-byte UTF-8 character) in a line. A token's keys are:
//! - its first [`PREFIX`] bytes, or the whole token when shorter. Tokens of digits only
//!   shorter than [`PREFIX`] get no key: they are numerous (durations, sizes, ports) and
//!   rarely what a search is for;
//! - for a token of at least [`WINDOW_BYTES`] bytes, its winnowed [`PREFIX`]-grams
//!   (Schleimer, Wilkerson and Aiken, 2003): of every [`WINDOW`] consecutive 8-grams, the one
//!   with the smallest hash. Any [`WINDOW_BYTES`]-byte piece of a token selects the same gram
//!   in the token as on its own, so a bare id (no `=` or space before it) prunes too.
//!
//! A literal has to be a substring of a matching line, so a token run inside the literal
//! tells something about the line's tokens only where the literal itself bounds it:
//! - a run with a non-token byte of the literal on both sides is a whole token of the
//!   line: its prefix key must be in the filter;
//! - a run bounded on the left only (it ends the literal) starts a token of the line: if it
//!   has at least [`PREFIX`] bytes, that token's prefix key is the run's first [`PREFIX`]
//!   bytes;
//! - any run is a piece of a token of the line, so the grams it winnows are keys of it.
//!
//! A row group is skipped only if a key its lines must have is absent from its filter, so
//! pruning never loses a line; false positives only cost a read.

use parquet::bloom_filter::Sbbf;

/// Bytes of a token that make its key.
pub(crate) const PREFIX: usize = 8;

/// 8-grams per winnowing window.
pub(crate) const WINDOW: usize = 16;

/// The shortest token (or literal run) that holds a whole window.
pub(crate) const WINDOW_BYTES: usize = WINDOW + PREFIX - 1;

/// Bits of filter per distinct key: about 1 % false positives for a split-block filter.
const BITS_PER_KEY: usize = 10;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The `[start, end)` token runs of `bytes`.
fn runs(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !is_token_byte(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        Some((start, i))
    })
}

/// The key of a whole token, or `None` for a short all-digit token.
fn key(token: &[u8]) -> Option<&[u8]> {
    if token.len() >= PREFIX {
        Some(&token[..PREFIX])
    } else if token.iter().all(u8::is_ascii_digit) {
        None
    } else {
        Some(token)
    }
}

fn gram_hash(gram: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(gram);
    u64::from_le_bytes(word).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Calls `f` with each winnowed gram of a token run (repeats possible); nothing for runs
/// shorter than [`WINDOW_BYTES`]. The leftmost smallest hash wins a window: a window's
/// choice depends on its bytes only.
fn winnow<'a>(run: &'a [u8], f: &mut impl FnMut(&'a [u8])) {
    if run.len() < WINDOW_BYTES {
        return;
    }
    let hashes: Vec<u64> = run.windows(PREFIX).map(gram_hash).collect();
    let mut last = usize::MAX;
    for (start, window) in hashes.windows(WINDOW).enumerate() {
        let mut best = 0;
        for (i, h) in window.iter().enumerate() {
            if *h < window[best] {
                best = i;
            }
        }
        let at = start + best;
        if at != last {
            f(&run[at..at + PREFIX]);
            last = at;
        }
    }
}

/// Calls `f` with the keys of every token of `line` (repeats included).
pub(crate) fn line_keys<'a>(line: &'a [u8], mut f: impl FnMut(&'a [u8])) {
    for (start, end) in runs(line) {
        let token = &line[start..end];
        if let Some(k) = key(token) {
            f(k);
        }
        winnow(token, &mut f);
    }
}

/// The keys every line containing `literal` has (see the module comment).
pub(crate) fn literal_keys(literal: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for (start, end) in runs(literal) {
        let run = &literal[start..end];
        winnow(run, &mut |k| out.push(k));
        if start == 0 {
            continue;
        }
        if end < literal.len() {
            out.extend(key(run));
        } else if run.len() >= PREFIX {
            out.push(&run[..PREFIX]);
        }
    }
    out
}

/// A filter holding `keys` (distinct), sized for them: at least one 32-byte block.
pub(crate) fn filter<'a>(keys: impl ExactSizeIterator<Item = &'a [u8]>) -> Sbbf {
    let blocks = (keys.len() * BITS_PER_KEY).div_ceil(256).max(1);
    let mut filter = Sbbf::new(&vec![0; blocks * 32]);
    for k in keys {
        filter.insert(k);
    }
    filter
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn keys_of(lines: &[&str]) -> HashSet<Vec<u8>> {
        let mut out = HashSet::new();
        for line in lines {
            line_keys(line.as_bytes(), |k| {
                out.insert(k.to_vec());
            });
        }
        out
    }

    #[test]
    fn lines_key_tokens_by_prefix_and_skip_short_numbers() {
        let keys = keys_of(&["ts=12 trace_id=5e1d0c4b9a8f port=40211 blk_-1608999687919862906"]);
        let mut got: Vec<String> = keys
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["16089996", "5e1d0c4b", "blk_", "port", "trace_id", "ts"],
            "no token is long enough to winnow"
        );
    }

    #[test]
    fn literals_constrain_only_tokens_they_bound() {
        let keys = |l: &str| {
            literal_keys(l.as_bytes())
                .into_iter()
                .map(|k| String::from_utf8(k.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys("trace_id=5e1d0c4b9a8f7e6d"),
            ["5e1d0c4b"],
            "the id starts a token; `trace_id` may end a longer one"
        );
        assert!(
            keys("5e1d0c4b9a8f7e6d").is_empty(),
            "may sit inside a token, and is shorter than a window"
        );
        let bare = keys("5e1d0c4b9a8f7e6d5c4b3a2918f7e6d5");
        assert!(!bare.is_empty(), "a bare trace id winnows grams");
        assert!(
            bare.iter()
                .all(|g| g.len() == PREFIX
                    && "5e1d0c4b9a8f7e6d5c4b3a2918f7e6d5".contains(g.as_str()))
        );
        assert_eq!(keys("x509: certificate has expired"), ["certific", "has"]);
        assert_eq!(keys(" expired"), Vec::<String>::new(), "short prefix");
        assert_eq!(keys(" port=40211 "), ["port"], "short numbers have no key");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let f = filter(std::iter::empty());
        assert_eq!(f.num_blocks(), 1);
        assert!(!f.check(b"anything".as_slice()));
    }

    proptest! {
        /// Pruning never loses a line: every key a literal demands is a key of each line
        /// that contains the literal.
        #[test]
        fn a_line_holding_a_literal_has_all_its_keys(
            line in "[a-c0-9_ =é.-]{0,60}|[a-f0-9]{20,40}( [a-f0-9]{20,40}){0,2}",
            start in 0usize..80,
            len in 0usize..80,
        ) {
            let bytes = line.as_bytes();
            let start = start.min(bytes.len());
            let end = (start + len).min(bytes.len());
            let Ok(literal) = std::str::from_utf8(&bytes[start..end]) else {
                return Ok(());
            };
            let keys = keys_of(&[line.as_str()]);
            let f = filter(keys.iter().map(Vec::as_slice).collect::<Vec<_>>().into_iter());
            for k in literal_keys(literal.as_bytes()) {
                prop_assert!(keys.contains(k), "{literal:?} needs {k:?} absent from {line:?}");
                prop_assert!(f.check(k));
            }
        }
    }
}
