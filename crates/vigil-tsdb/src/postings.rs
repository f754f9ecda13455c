//! Label postings: for every label name/value pair, the bitmap of series ids carrying it.
//!
//! [`MemPostings`] is the inverted index shared by the head and by opened blocks. Series ids
//! are `u32` and stored in [`RoaringBitmap`]s, so set algebra over millions of series stays
//! cheap. [`MemPostings::select`] answers label matchers with Prometheus semantics: a series
//! lacking a label behaves as if it had that label with the empty value.

use std::collections::BTreeMap;

use roaring::{MultiOps, RoaringBitmap};
use vigil_model::{Labels, MatchOp, Matcher};

/// An in-memory inverted index from label pairs to series ids.
///
/// Names and values are kept in ordered maps so listings come out sorted without extra work.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemPostings {
    /// label name -> label value -> series ids.
    by_name: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    /// Every series id ever added and not removed.
    all: RoaringBitmap,
    /// Number of (name, value) entries in `by_name`, kept to answer in O(1).
    num_pairs: usize,
}

impl MemPostings {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that series `series_id` carries every pair of `labels`.
    pub fn add(&mut self, series_id: u32, labels: &Labels) {
        self.all.insert(series_id);
        for label in labels {
            self.insert_pair_bitmap(&label.name, &label.value, |bitmap| {
                bitmap.insert(series_id);
            });
        }
    }

    /// Forgets series `series_id` under each pair of `labels`, dropping entries left empty.
    pub fn remove(&mut self, series_id: u32, labels: &Labels) {
        self.all.remove(series_id);
        for label in labels {
            let Some(values) = self.by_name.get_mut(&label.name) else {
                continue;
            };
            let Some(bitmap) = values.get_mut(&label.value) else {
                continue;
            };
            bitmap.remove(series_id);
            if bitmap.is_empty() {
                values.remove(&label.value);
                self.num_pairs -= 1;
                if values.is_empty() {
                    self.by_name.remove(&label.name);
                }
            }
        }
    }

    /// Unions a whole bitmap into the entry of `name`=`value`, e.g. when loading a block's
    /// stored postings. The ids also join [`Self::all`].
    pub(crate) fn add_bitmap(&mut self, name: &str, value: &str, series_ids: &RoaringBitmap) {
        if series_ids.is_empty() {
            return;
        }
        self.all |= series_ids;
        self.insert_pair_bitmap(name, value, |bitmap| *bitmap |= series_ids);
    }

    fn insert_pair_bitmap(
        &mut self,
        name: &str,
        value: &str,
        update: impl FnOnce(&mut RoaringBitmap),
    ) {
        // Look up before inserting so the common case (pair exists) allocates no strings.
        let values = match self.by_name.get_mut(name) {
            Some(values) => values,
            None => self.by_name.entry(name.to_owned()).or_default(),
        };
        match values.get_mut(value) {
            Some(bitmap) => update(bitmap),
            None => {
                let mut bitmap = RoaringBitmap::new();
                update(&mut bitmap);
                values.insert(value.to_owned(), bitmap);
                self.num_pairs += 1;
            }
        }
    }

    /// Series ids matching all `matchers`, with Prometheus semantics.
    ///
    /// A missing label equals `""`, so a matcher that accepts `""` also selects series that
    /// lack the label. Matchers that reject `""` are answered by intersecting postings;
    /// matchers that accept `""` by subtracting the postings of the values they reject. When
    /// every matcher accepts `""` (or there are none), the result starts from all series.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let mut required: Vec<RoaringBitmap> = Vec::new();
        let mut excluded: Vec<RoaringBitmap> = Vec::new();
        for matcher in matchers {
            if matcher.matches_empty() {
                let rejected = self.rejected_by(matcher);
                if !rejected.is_empty() {
                    excluded.push(rejected);
                }
            } else {
                let accepted = self.accepted_by(matcher);
                if accepted.is_empty() {
                    return RoaringBitmap::new();
                }
                required.push(accepted);
            }
        }

        // Intersect the smallest sets first so intermediate results stay small.
        required.sort_by_key(RoaringBitmap::len);
        let mut result = match required.len() {
            0 => self.all.clone(),
            _ => required.into_iter().intersection(),
        };
        for rejected in &excluded {
            if result.is_empty() {
                break;
            }
            result -= rejected;
        }
        result
    }

    /// Series carrying a value of `matcher.name` that `matcher` accepts, for a matcher that
    /// rejects `""` and therefore requires the label to be present.
    fn accepted_by(&self, matcher: &Matcher) -> RoaringBitmap {
        debug_assert!(!matcher.matches_empty());
        match matcher.op {
            MatchOp::Equal => self
                .postings(&matcher.name, &matcher.value)
                .cloned()
                .unwrap_or_default(),
            MatchOp::Regex => match matcher.set_literals() {
                Some(literals) => self.union_of_literals(&matcher.name, &literals),
                None => self.union_of_values(&matcher.name, |value| matcher.matches(value)),
            },
            // `!=""` and `!~` of a regex matching "": scan the values.
            MatchOp::NotEqual | MatchOp::NotRegex => {
                self.union_of_values(&matcher.name, |value| matcher.matches(value))
            }
        }
    }

    /// Series carrying a value of `matcher.name` that `matcher` rejects, for a matcher that
    /// accepts `""`: exactly the series such a matcher excludes.
    fn rejected_by(&self, matcher: &Matcher) -> RoaringBitmap {
        debug_assert!(matcher.matches_empty());
        match matcher.op {
            // Accepting "" means the value is "", so every present value is rejected.
            MatchOp::Equal => self.union_of_values(&matcher.name, |_| true),
            // Accepting "" means the value is not "", so only that value is rejected.
            MatchOp::NotEqual => self
                .postings(&matcher.name, &matcher.value)
                .cloned()
                .unwrap_or_default(),
            MatchOp::NotRegex => {
                // `!~"a|b"` rejects exactly the literals the positive regex accepts.
                let mut as_positive = matcher.clone();
                as_positive.op = MatchOp::Regex;
                match as_positive.set_literals() {
                    Some(literals) => self.union_of_literals(&matcher.name, &literals),
                    None => self.union_of_values(&matcher.name, |value| !matcher.matches(value)),
                }
            }
            MatchOp::Regex => self.union_of_values(&matcher.name, |value| !matcher.matches(value)),
        }
    }

    /// Union of the postings of every value of label `name` for which `keep` holds.
    fn union_of_values(&self, name: &str, keep: impl Fn(&str) -> bool) -> RoaringBitmap {
        let Some(values) = self.by_name.get(name) else {
            return RoaringBitmap::new();
        };
        values
            .iter()
            .filter(|(value, _)| keep(value))
            .map(|(_, bitmap)| bitmap)
            .union()
    }

    fn union_of_literals(&self, name: &str, literals: &[String]) -> RoaringBitmap {
        let Some(values) = self.by_name.get(name) else {
            return RoaringBitmap::new();
        };
        literals
            .iter()
            .filter_map(|literal| values.get(literal))
            .union()
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// All values of label `name`, sorted; empty when the name is unknown.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.by_name
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Sorted label names carried by at least one series of `series_ids`.
    pub fn label_names_for(&self, series_ids: &RoaringBitmap) -> Vec<String> {
        self.by_name
            .iter()
            .filter(|(_, values)| {
                values
                    .values()
                    .any(|bitmap| !bitmap.is_disjoint(series_ids))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Sorted values of label `name` carried by at least one series of `series_ids`.
    pub fn label_values_for(&self, name: &str, series_ids: &RoaringBitmap) -> Vec<String> {
        let Some(values) = self.by_name.get(name) else {
            return Vec::new();
        };
        values
            .iter()
            .filter(|(_, bitmap)| !bitmap.is_disjoint(series_ids))
            .map(|(value, _)| value.clone())
            .collect()
    }

    /// The series ids carrying `name`=`value`, if any.
    pub fn postings(&self, name: &str, value: &str) -> Option<&RoaringBitmap> {
        self.by_name.get(name)?.get(value)
    }

    /// Every series id in the index.
    pub fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    /// Number of distinct label name/value pairs.
    pub fn num_label_pairs(&self) -> usize {
        self.num_pairs
    }

    /// Every `(name, value, series count)`, sorted by name then value; feeds cardinality
    /// statistics such as `/api/v1/status/tsdb`.
    pub fn iter_pairs(&self) -> impl Iterator<Item = (&str, &str, u64)> + '_ {
        self.iter_postings()
            .map(|(name, value, bitmap)| (name, value, bitmap.len()))
    }

    /// Every `(name, value, series ids)`, sorted by name then value.
    pub(crate) fn iter_postings(&self) -> impl Iterator<Item = (&str, &str, &RoaringBitmap)> + '_ {
        self.by_name.iter().flat_map(|(name, values)| {
            values
                .iter()
                .map(move |(value, bitmap)| (name.as_str(), value.as_str(), bitmap))
        })
    }

    /// Every `(name, number of distinct values)`, sorted by name.
    pub fn iter_value_counts(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.by_name
            .iter()
            .map(|(name, values)| (name.as_str(), values.len()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use vigil_model::Label;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_static(pairs)
    }

    fn matcher(op: MatchOp, name: &str, value: &str) -> Matcher {
        Matcher::new(op, name, value).unwrap()
    }

    fn ids(bitmap: &RoaringBitmap) -> Vec<u32> {
        bitmap.iter().collect()
    }

    fn example() -> MemPostings {
        let mut postings = MemPostings::new();
        postings.add(0, &labels(&[("__name__", "up"), ("job", "api")]));
        postings.add(
            1,
            &labels(&[("__name__", "up"), ("job", "web"), ("env", "prod")]),
        );
        postings.add(2, &labels(&[("__name__", "rate"), ("env", "dev")]));
        postings
    }

    #[test]
    fn select_follows_prometheus_semantics() {
        let postings = example();
        let select = |matchers: &[Matcher]| ids(&postings.select(matchers));

        assert_eq!(select(&[matcher(MatchOp::Equal, "__name__", "up")]), [0, 1]);
        // `env=""` selects series without the label.
        assert_eq!(select(&[matcher(MatchOp::Equal, "env", "")]), [0]);
        assert_eq!(select(&[matcher(MatchOp::NotEqual, "env", "")]), [1, 2]);
        assert_eq!(select(&[matcher(MatchOp::NotEqual, "env", "prod")]), [0, 2]);
        assert_eq!(select(&[matcher(MatchOp::Regex, "job", "api|web")]), [0, 1]);
        assert_eq!(select(&[matcher(MatchOp::Regex, "job", "a.*|")]), [0, 2]);
        assert_eq!(select(&[matcher(MatchOp::NotRegex, "job", "api|web")]), [2]);
        assert_eq!(select(&[matcher(MatchOp::NotRegex, "job", ".+")]), [2]);
        assert_eq!(
            select(&[
                matcher(MatchOp::Equal, "__name__", "up"),
                matcher(MatchOp::NotRegex, "job", "w.*"),
            ]),
            [0]
        );
        assert_eq!(
            select(&[matcher(MatchOp::Equal, "nope", "x")]),
            Vec::<u32>::new()
        );
        assert_eq!(select(&[]), [0, 1, 2]);
    }

    #[test]
    fn remove_drops_empty_entries() {
        let mut postings = example();
        assert_eq!(postings.num_label_pairs(), 6);
        postings.remove(2, &labels(&[("__name__", "rate"), ("env", "dev")]));
        assert_eq!(postings.num_label_pairs(), 4);
        assert_eq!(postings.label_values("__name__"), ["up"]);
        assert_eq!(postings.label_values("env"), ["prod"]);
        assert_eq!(ids(postings.all()), [0, 1]);
        postings.remove(
            1,
            &labels(&[("__name__", "up"), ("job", "web"), ("env", "prod")]),
        );
        assert_eq!(postings.label_names(), ["__name__", "job"]);
        assert!(postings.postings("env", "prod").is_none());
    }

    #[test]
    fn listings_and_statistics() {
        let postings = example();
        assert_eq!(postings.label_names(), ["__name__", "env", "job"]);
        assert_eq!(postings.label_values("env"), ["dev", "prod"]);
        assert!(postings.label_values("missing").is_empty());
        let only_first: RoaringBitmap = [0].into_iter().collect();
        assert_eq!(postings.label_names_for(&only_first), ["__name__", "job"]);
        assert_eq!(postings.label_values_for("__name__", &only_first), ["up"]);
        let pairs: Vec<_> = postings.iter_pairs().collect();
        assert_eq!(pairs[0], ("__name__", "rate", 1));
        assert_eq!(pairs[1], ("__name__", "up", 2));
        assert_eq!(pairs.len(), postings.num_label_pairs());
        let counts: Vec<_> = postings.iter_value_counts().collect();
        assert_eq!(counts, [("__name__", 2), ("env", 2), ("job", 2)]);
    }

    const NAMES: &[&str] = &["__name__", "a", "b", "c"];
    const VALUES: &[&str] = &["x", "y", "z", "xy", "a-b"];
    /// Values and patterns used by generated matchers: literals, the empty string, literal
    /// alternations (fast path) and regexes that do and do not match the empty string.
    const PATTERNS: &[&str] = &[
        "", "x", "y", "xy", "q", "x|y", "x|q", "a-b|z", ".*", ".+", "x.*", "|x", "x?", "[xy]+",
        "(x|)y?", "y*",
    ];

    fn label_set_strategy() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map(
            proptest::sample::select(NAMES),
            proptest::sample::select(VALUES),
            0..=NAMES.len(),
        )
        .prop_map(|pairs| {
            let labels = pairs
                .into_iter()
                .map(|(name, value)| Label::new(name, value))
                .collect();
            Labels::from_unsorted_unique(labels).unwrap()
        })
    }

    fn matcher_strategy() -> impl Strategy<Value = Matcher> {
        let ops = [
            MatchOp::Equal,
            MatchOp::NotEqual,
            MatchOp::Regex,
            MatchOp::NotRegex,
        ];
        let names = [NAMES, &["missing"]].concat();
        (
            proptest::sample::select(ops.to_vec()),
            proptest::sample::select(names),
            proptest::sample::select(PATTERNS),
        )
            .prop_map(|(op, name, value)| matcher(op, name, value))
    }

    /// Series ids (index into `series`) still present and matching all matchers, by brute force.
    fn oracle(series: &BTreeMap<u32, Labels>, matchers: &[Matcher]) -> Vec<u32> {
        series
            .iter()
            .filter(|(_, labels)| matchers.iter().all(|m| m.matches_labels(labels)))
            .map(|(id, _)| *id)
            .collect()
    }

    proptest! {
        #[test]
        fn select_equals_brute_force(
            all_series in proptest::collection::vec(label_set_strategy(), 0..40),
            removed in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
            matcher_sets in proptest::collection::vec(
                proptest::collection::vec(matcher_strategy(), 0..4), 1..8),
        ) {
            let mut postings = MemPostings::new();
            let mut live: BTreeMap<u32, Labels> = BTreeMap::new();
            for (id, labels) in all_series.iter().enumerate() {
                let id = u32::try_from(id).unwrap();
                postings.add(id, labels);
                live.insert(id, labels.clone());
            }
            if !all_series.is_empty() {
                for index in &removed {
                    let id = u32::try_from(index.index(all_series.len())).unwrap();
                    if let Some(labels) = live.remove(&id) {
                        postings.remove(id, &labels);
                    }
                }
            }

            for matchers in &matcher_sets {
                let selected = postings.select(matchers);
                prop_assert_eq!(ids(&selected), oracle(&live, matchers), "matchers {:?}", matchers);

                let expected_names: BTreeSet<String> = selected
                    .iter()
                    .flat_map(|id| live[&id].iter().map(|l| l.name.clone()))
                    .collect();
                prop_assert_eq!(
                    postings.label_names_for(&selected),
                    expected_names.into_iter().collect::<Vec<_>>()
                );
            }

            let mut expected_pairs: BTreeMap<(String, String), u64> = BTreeMap::new();
            for labels in live.values() {
                for label in labels {
                    *expected_pairs.entry((label.name.clone(), label.value.clone())).or_default() += 1;
                }
            }
            let pairs: Vec<((String, String), u64)> = postings
                .iter_pairs()
                .map(|(name, value, count)| ((name.to_owned(), value.to_owned()), count))
                .collect();
            prop_assert_eq!(pairs, expected_pairs.clone().into_iter().collect::<Vec<_>>());
            prop_assert_eq!(postings.num_label_pairs(), expected_pairs.len());

            let expected_names: BTreeSet<&str> =
                expected_pairs.keys().map(|(name, _)| name.as_str()).collect();
            prop_assert_eq!(postings.label_names(), expected_names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
            for name in NAMES {
                let expected_values: Vec<String> = expected_pairs
                    .keys()
                    .filter(|(n, _)| n == name)
                    .map(|(_, value)| value.clone())
                    .collect();
                prop_assert_eq!(postings.label_values(name), expected_values);
            }
            prop_assert_eq!(ids(postings.all()), live.keys().copied().collect::<Vec<_>>());
        }
    }
}
