//! Glue's FindMatches as an execution node: records that stand for the same thing without a common key, found
//! by blocking and string similarity, and given a `match_id` shared by each group (plus `match_confidence`, the
//! score that joined the record to its group). Planned from `find_matches(TABLE t, columns => '...')`
//! (`crate::sql::table_functions`), a [`WholeInput`] computation (`crate::exec::whole_input`'s nodes plan it).
//!
//! How two records are compared, in order:
//! 1. Each compared column's value is normalized: lower-cased Unicode words joined by one space (`"  ACME,
//!    Inc."` → `acme inc`). NULL stays NULL.
//! 2. Blocking (only pairs that share a block are scored): records sharing a word of a column, unless the word is
//!    in more than [`MAX_BLOCK`] records (`inc`, `street`); and, for each column, the records next to each other
//!    when sorted by the value and by the value reversed ([`WINDOW`] apart at most), which pairs typos that share
//!    no whole word (`jon`/`john`).
//! 3. Two values' similarity is the normalized Levenshtein similarity (`strsim`), of the values or of their
//!    words sorted (`smith james` is `james smith`). A pair's score is the mean of its columns' similarities,
//!    each weighted by how distinct the column's values are (distinct values over valued rows: an email says
//!    more than a city), over the columns valued on both sides (a missing value is no evidence either way); a
//!    pair whose shared columns weigh less than [`MIN_EVIDENCE`] is not scored.
//! 4. Pairs scoring at least the threshold (given, or tuned on labeled records: [`Labels::tune`]) are matches;
//!    groups are their connected components (union-find).
//!
//! The invariant: the groups depend on the set of rows only, not on their order: `match_id` is the group's
//! smallest `id` when an id column is given, else the rank of the group's smallest normalized record.

use crate::exec::whole_input::WholeInput;
use arrow::array::{Array, ArrayRef, Float64Builder, Int64Builder, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::common::{DFSchema, DataFusionError, Result, TableReference};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use unicode_segmentation::UnicodeSegmentation;

/// A word shared by more records than this does not block (it says little and would pair them all).
pub const MAX_BLOCK: usize = 100;
/// How many neighbours in sorted order each record is paired with, per column and direction.
pub const WINDOW: usize = 4;

/// What to compare and when two records match.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchSpec {
    /// The compared columns, as positions in the input.
    pub columns: Vec<usize>,
    /// The id column's position, if one is named (its values give `match_id`).
    pub id: Option<usize>,
    /// The least score of a match, 0 to 1 (unless labels tune it).
    pub threshold: f64,
    /// Labeled records that tune the threshold, when given.
    pub labels: Option<Labels>,
}

/// Glue's labeling set: records given the same label in one labeling set are matches, records given
/// different labels are not. The input's last two columns hold each record's set and label (NULL: unlabeled).
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Glue's `precision_recall_tradeoff`, 0 to 1: higher favours precision, lower recall (0.5: F1).
    pub tradeoff: f64,
}

impl Labels {
    /// The threshold that scores best on the labeled pairs `(score, is a match)`: the F-beta score with
    /// beta = (1 - tradeoff) / tradeoff, the highest such threshold on ties. None when no pair is a match.
    ///
    /// The labeled pairs are a sample of the table's: `labeled` of its `rows` records. A record's matches grow
    /// with the table as its records do, its strangers as its pairs do (quadratically), so each labeled match
    /// counts for (rows / labeled) of the table's and each labeled stranger pair for the table's stranger pairs
    /// over the labeled ones; the F-beta score is the table's so estimated. Without that, a sample's few
    /// strangers would pull the threshold down and the whole table would match too much.
    pub fn tune(&self, pairs: &[(f64, bool)], labeled: usize, rows: usize) -> Option<f64> {
        let positives = pairs.iter().filter(|p| p.1).count();
        if positives == 0 {
            return None;
        }
        let negatives = pairs.len() - positives;
        let match_scale = rows.max(labeled) as f64 / labeled.max(1) as f64;
        let table_pairs = rows as f64 * (rows as f64 - 1.0) / 2.0;
        let stranger_scale = if negatives == 0 {
            1.0
        } else {
            ((table_pairs - positives as f64 * match_scale) / negatives as f64).max(1.0)
        };
        let beta2 = ((1.0 - self.tradeoff) / self.tradeoff).powi(2);
        let mut sorted: Vec<(f64, bool)> = pairs.to_vec();
        sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut tp, mut fp) = (0usize, 0usize);
        let mut best: Option<(f64, f64)> = None;
        for (k, &(score, truth)) in sorted.iter().enumerate() {
            if truth {
                tp += 1;
            } else {
                fp += 1;
            }
            // Only where the next pair scores lower: a threshold takes every pair at its score.
            if sorted.get(k + 1).is_some_and(|next| next.0 == score) {
                continue;
            }
            let (tp_t, missed_t, fp_t) = (
                tp as f64 * match_scale,
                (positives - tp) as f64 * match_scale,
                fp as f64 * stranger_scale,
            );
            let f = (1.0 + beta2) * tp_t / ((1.0 + beta2) * tp_t + beta2 * missed_t + fp_t);
            if best.is_none_or(|(b, _)| f > b) {
                best = Some((f, score));
            }
        }
        best.map(|(_, t)| t)
    }
}

impl WholeInput for MatchSpec {
    fn name(&self) -> &'static str {
        "FindMatches"
    }
    fn describe(&self, schema: &Schema) -> String {
        let names: Vec<&str> = self
            .columns
            .iter()
            .map(|&i| schema.field(i).name().as_str())
            .collect();
        let threshold = match &self.labels {
            Some(l) => format!("tuned by labels (precision_recall_tradeoff={})", l.tradeoff),
            None => self.threshold.to_string(),
        };
        format!(
            "columns=[{}], threshold={threshold}{}",
            names.join(", "),
            self.id
                .map(|i| format!(", id={}", schema.field(i).name()))
                .unwrap_or_default()
        )
    }
    /// The input's columns (less the labels'), then `match_id` and `match_confidence`.
    fn output(&self, input: &DFSchema) -> Result<Vec<(Option<TableReference>, FieldRef)>> {
        let kept = input.fields().len() - self.label_columns();
        Ok(input
            .iter()
            .take(kept)
            .map(|(q, f)| (q.cloned(), Arc::clone(f)))
            .chain([
                (
                    None,
                    Arc::new(Field::new("match_id", DataType::Int64, false)),
                ),
                (
                    None,
                    Arc::new(Field::new("match_confidence", DataType::Float64, true)),
                ),
            ])
            .collect())
    }
    fn compute(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let matched = find(&batches, self)?;
        let mut out = Vec::with_capacity(batches.len());
        let mut row = 0;
        for b in &batches {
            let mut ids = Int64Builder::with_capacity(b.num_rows());
            let mut confidence = Float64Builder::with_capacity(b.num_rows());
            for _ in 0..b.num_rows() {
                ids.append_value(matched.match_id[row]);
                confidence.append_option(matched.confidence[row]);
                row += 1;
            }
            let mut columns: Vec<ArrayRef> = b.columns().to_vec();
            columns.truncate(columns.len() - self.label_columns());
            columns.push(Arc::new(ids.finish()));
            columns.push(Arc::new(confidence.finish()));
            out.push(RecordBatch::try_new(Arc::clone(schema), columns)?);
        }
        Ok(out)
    }
}

impl MatchSpec {
    /// How many of the input's last columns are the labels' (set and label).
    fn label_columns(&self) -> usize {
        if self.labels.is_some() { 2 } else { 0 }
    }
}

/// Each row's group and confidence, in input order.
pub struct Matched {
    pub match_id: Vec<i64>,
    pub confidence: Vec<Option<f64>>,
}

/// A value normalized for comparing: lower-cased Unicode words joined by one space; None for NULL or no words.
pub fn normalize(v: &str) -> Option<String> {
    let words: Vec<String> = v.unicode_words().map(|w| w.to_lowercase()).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// How alike two normalized values are, 0 to 1: the normalized Levenshtein similarity (`strsim`) of the
/// values, or of their words sorted when that is higher (`smith james` is `james smith`).
pub fn similarity(a: &str, b: &str) -> f64 {
    let sorted = |v: &str| {
        let mut w: Vec<&str> = v.split(' ').collect();
        w.sort_unstable();
        w.join(" ")
    };
    strsim::normalized_levenshtein(a, b).max(strsim::normalized_levenshtein(&sorted(a), &sorted(b)))
}

/// The score of two records' normalized values: the mean of the columns' similarities weighted by how
/// distinct each column's values are (`weights`, 0 to 1: a city says less than an email), over the columns
/// valued on both sides. None when those columns weigh less than [`MIN_EVIDENCE`] together.
pub fn score(a: &[Option<String>], b: &[Option<String>], weights: &[f64]) -> Option<f64> {
    let mut sum = 0.0;
    let mut weight = 0.0;
    for ((x, y), w) in a.iter().zip(b).zip(weights) {
        if let (Some(x), Some(y)) = (x, y) {
            sum += w * similarity(x, y);
            weight += w;
        }
    }
    (weight >= MIN_EVIDENCE).then(|| sum / weight)
}

/// The least total weight of the columns a score rests on: half of a column whose values are all distinct.
pub const MIN_EVIDENCE: f64 = 0.5;

fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The groups of `batches`' rows.
pub fn find(batches: &[RecordBatch], spec: &MatchSpec) -> Result<Matched> {
    // The compared values, normalized, a row each.
    let mut records: Vec<Vec<Option<String>>> = vec![];
    let mut ids: Vec<Option<i64>> = vec![];
    for b in batches {
        let mut cols = vec![];
        for &c in &spec.columns {
            cols.push(arrow::compute::cast(b.column(c), &DataType::Utf8)?);
        }
        let id = match spec.id {
            Some(i) => Some(arrow::compute::cast(b.column(i), &DataType::Int64)?),
            None => None,
        };
        for r in 0..b.num_rows() {
            records.push(
                cols.iter()
                    .map(|a| {
                        let s = arrow::array::AsArray::as_string::<i32>(a.as_ref());
                        s.is_valid(r).then(|| normalize(s.value(r))).flatten()
                    })
                    .collect(),
            );
            ids.push(id.as_ref().and_then(|a| {
                let a =
                    arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(a.as_ref());
                a.is_valid(r).then(|| a.value(r))
            }));
        }
    }
    let n = records.len();
    // Each column's weight: its distinct values over its valued rows.
    let weights: Vec<f64> = (0..spec.columns.len())
        .map(|c| {
            let valued: Vec<&String> = records.iter().filter_map(|r| r[c].as_ref()).collect();
            let distinct: std::collections::HashSet<&String> = valued.iter().copied().collect();
            if valued.is_empty() {
                0.0
            } else {
                distinct.len() as f64 / valued.len() as f64
            }
        })
        .collect();
    // Labels tune the threshold: every pair within a labeling set, scored as any pair.
    let threshold = match &spec.labels {
        None => spec.threshold,
        Some(labels) => {
            let mut sets: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
            let mut row = 0;
            for b in batches {
                let width = b.num_columns();
                let set = arrow::compute::cast(b.column(width - 2), &DataType::Utf8)?;
                let label = arrow::compute::cast(b.column(width - 1), &DataType::Utf8)?;
                let set = arrow::array::AsArray::as_string::<i32>(set.as_ref());
                let label = arrow::array::AsArray::as_string::<i32>(label.as_ref());
                for r in 0..b.num_rows() {
                    if set.is_valid(r) && label.is_valid(r) {
                        sets.entry(set.value(r).to_string())
                            .or_default()
                            .push((row, label.value(r).to_string()));
                    }
                    row += 1;
                }
            }
            let labeled: usize = sets.values().map(Vec::len).sum();
            let mut pairs = vec![];
            for members in sets.values() {
                for (k, (i, a)) in members.iter().enumerate() {
                    for (j, b) in &members[k + 1..] {
                        let s = score(&records[*i], &records[*j], &weights).unwrap_or(0.0);
                        pairs.push((s, a == b));
                    }
                }
            }
            labels.tune(&pairs, labeled, records.len()).ok_or_else(|| {
                DataFusionError::Execution(format!(
                    "find_matches: the labels hold no matching pair ({} labeled pairs, none with one label in \
                     one labeling set): label some records as the same thing",
                    pairs.len()
                ))
            })?
        }
    };
    // Candidate pairs (i < j), from the blocks.
    let mut candidates: std::collections::HashSet<(usize, usize)> = Default::default();
    for c in 0..spec.columns.len() {
        let mut blocks: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if let Some(v) = &r[c] {
                let mut words: Vec<&str> = v.split(' ').collect();
                words.sort_unstable();
                words.dedup();
                for w in words {
                    blocks.entry(w).or_default().push(i);
                }
            }
        }
        for rows in blocks.values().filter(|r| r.len() <= MAX_BLOCK) {
            for (k, &i) in rows.iter().enumerate() {
                for &j in &rows[k + 1..] {
                    candidates.insert((i.min(j), i.max(j)));
                }
            }
        }
        // Neighbours in sorted order, forwards and reversed.
        for reversed in [false, true] {
            let mut order: Vec<(String, usize)> = records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    r[c].as_ref().map(|v| {
                        let key = if reversed {
                            v.chars().rev().collect()
                        } else {
                            v.clone()
                        };
                        (key, i)
                    })
                })
                .collect();
            order.sort();
            for k in 0..order.len() {
                for m in order.iter().skip(k + 1).take(WINDOW) {
                    let (i, j) = (order[k].1, m.1);
                    candidates.insert((i.min(j), i.max(j)));
                }
            }
        }
    }
    // Matches, and the groups they make.
    let mut parent: Vec<usize> = (0..n).collect();
    let mut confidence: Vec<Option<f64>> = vec![None; n];
    let mut pairs: Vec<(usize, usize)> = candidates.into_iter().collect();
    pairs.sort_unstable();
    for (i, j) in pairs {
        let Some(s) = score(&records[i], &records[j], &weights) else {
            continue;
        };
        if s >= threshold {
            for k in [i, j] {
                confidence[k] = Some(confidence[k].map_or(s, |c: f64| c.max(s)));
            }
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    // A group's id: its smallest id value, or the rank of its smallest record.
    let roots: Vec<usize> = (0..n).map(|i| root(&mut parent, i)).collect();
    let match_id: Vec<i64> = if spec.id.is_some() {
        let mut least: HashMap<usize, i64> = HashMap::new();
        for (i, &g) in roots.iter().enumerate() {
            if let Some(id) = ids[i] {
                let e = least.entry(g).or_insert(id);
                *e = (*e).min(id);
            }
        }
        let missing = |g: usize| -> Result<i64> {
            Err(DataFusionError::Execution(format!(
                "find_matches: a group of records has no id (every id in it is NULL; record {g})"
            )))
        };
        roots
            .iter()
            .map(|g| least.get(g).copied().map_or_else(|| missing(*g), Ok))
            .collect::<Result<_>>()?
    } else {
        let mut least: HashMap<usize, &Vec<Option<String>>> = HashMap::new();
        for (i, &g) in roots.iter().enumerate() {
            let e = least.entry(g).or_insert(&records[i]);
            if records[i] < **e {
                *e = &records[i];
            }
        }
        let mut order: Vec<(&Vec<Option<String>>, usize)> =
            least.iter().map(|(g, r)| (*r, *g)).collect();
        order.sort();
        let rank: BTreeMap<usize, i64> = order
            .iter()
            .enumerate()
            .map(|(k, (_, g))| (*g, k as i64 + 1))
            .collect();
        roots.iter().map(|g| rank[g]).collect()
    };
    Ok(Matched {
        match_id,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn batch(rows: &[(i64, Option<&str>, Option<&str>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("city", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    }

    #[test]
    fn typos_and_case_group_and_strangers_do_not() {
        let rows = [
            (10, Some("Jonathan Smith"), Some("Seattle")),
            (11, Some("jonathon smith"), Some("SEATTLE")),
            (12, Some("Maria Garcia"), Some("Austin")),
            (13, Some("Jonathan  Smith."), None),
            (14, Some("Mario Garcia"), Some("Boston")),
        ];
        let spec = MatchSpec {
            columns: vec![1, 2],
            id: Some(0),
            threshold: 0.9,
            labels: None,
        };
        let m = find(&[batch(&rows)], &spec).unwrap();
        assert_eq!(m.match_id, [10, 10, 12, 10, 14]);
        assert!(m.confidence[2].is_none() && m.confidence[4].is_none());
        // Order does not change the groups.
        let mut reversed = rows;
        reversed.reverse();
        let r = find(&[batch(&reversed)], &spec).unwrap();
        let mut again = r.match_id.clone();
        again.reverse();
        assert_eq!(again, m.match_id);
        // Without ids, groups are ranked by their smallest record: the same partition of rows.
        let spec = MatchSpec { id: None, ..spec };
        let a = find(&[batch(&rows)], &spec).unwrap().match_id;
        let mut b = find(&[batch(&reversed)], &spec).unwrap().match_id;
        b.reverse();
        assert_eq!(a, b);
        assert_eq!(a[0], a[1]);
        assert_eq!(a[0], a[3]);
        assert_ne!(a[0], a[2]);
    }

    #[test]
    fn labels_pick_the_threshold_that_scores_best_for_the_tradeoff() {
        let pairs = [
            (0.99, true),
            (0.95, true),
            (0.9, false),
            (0.85, true),
            (0.7, false),
            (0.6, true),
        ];
        // Labels covering the table (4 records, 6 pairs): counts as they are.
        let tune = |tradeoff: f64, pairs: &[(f64, bool)], labeled: usize, rows: usize| {
            Labels { tradeoff }.tune(pairs, labeled, rows)
        };
        // F1: 0.6 takes every match and two strangers (8/10, against 0.85's 6/8 and 0.95's 4/6).
        assert_eq!(tune(0.5, &pairs, 4, 4), Some(0.6));
        // Precision first: no stranger at all.
        assert_eq!(tune(0.9, &pairs, 4, 4), Some(0.95));
        // Recall first: every match.
        assert_eq!(tune(0.1, &pairs, 4, 4), Some(0.6));
        assert_eq!(tune(0.5, &[(0.9, false)], 4, 4), None);
        // The same labels from a table a hundred times larger: a stranger above the threshold there is many,
        // so F1 wants none.
        assert_eq!(tune(0.5, &pairs, 4, 400), Some(0.95));
    }

    #[test]
    fn scores_leave_out_columns_null_on_either_side() {
        let s = |a: &[Option<&str>], b: &[Option<&str>]| {
            let n =
                |v: &[Option<&str>]| v.iter().map(|x| x.and_then(normalize)).collect::<Vec<_>>();
            score(&n(a), &n(b), &[1.0, 1.0])
        };
        assert_eq!(s(&[Some("a b"), None], &[Some("A, b"), None]), Some(1.0));
        assert_eq!(
            s(&[Some("abc"), Some("x")], &[Some("abc"), None]),
            Some(1.0)
        );
        assert_eq!(
            s(&[Some("abc"), Some("x")], &[Some("abd"), Some("x")]).map(|v| v < 1.0),
            Some(true)
        );
        assert_eq!(s(&[None, Some("x")], &[Some("y"), None]), None);
        // Word order does not count; a city alone (weight 0.1) is not evidence enough.
        assert_eq!(similarity("smith james", "james smith"), 1.0);
        let city = score(&[Some("seattle".into())], &[Some("seattle".into())], &[0.1]);
        assert_eq!(city, None);
        assert_eq!(normalize("  ACME,   Inc. "), Some("acme inc".into()));
        assert_eq!(normalize(" ,; "), None);
    }
}
