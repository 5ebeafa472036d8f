//! Two answers to the same query compared as a database tester compares them: as multisets of rows (or in
//! order, where an `ORDER BY` fixes it), floating-point values equal within a tolerance (a sum's last digits
//! depend on the order it added its values in, which a plan may change), and the first difference said in
//! words. `owl compare` checks its format copies with it; the differential tester its oracles.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::cmp::Ordering;

/// One value of a row, as compared.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    /// A floating-point value (NaN equals NaN here, as `-0.0` equals `0.0`).
    Float(f64),
    /// Any other value, as arrow displays it (exact).
    Text(String),
}

impl Cell {
    fn order(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => Ordering::Less,
            (_, Cell::Null) => Ordering::Greater,
            (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
            (Cell::Float(_), Cell::Text(_)) => Ordering::Less,
            (Cell::Text(_), Cell::Float(_)) => Ordering::Greater,
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
        }
    }

    /// Equal, floats within `tolerance` of the larger magnitude (and of 1 near zero).
    fn close(&self, other: &Cell, tolerance: f64) -> bool {
        match (self, other) {
            (Cell::Float(a), Cell::Float(b)) => {
                (a.is_nan() && b.is_nan())
                    || a == b
                    || (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0)
            }
            (a, b) => a == b,
        }
    }

    fn show(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Float(f) => format!("{f:?}"),
            Cell::Text(t) => format!("{t:?}"),
        }
    }
}

/// The rows of `batches`, each a vector of cells.
fn rows_of(batches: &[RecordBatch]) -> Result<Vec<Vec<Cell>>, String> {
    let mut rows = Vec::new();
    let options = FormatOptions::default().with_null("NULL");
    for b in batches {
        let mut columns: Vec<Vec<Cell>> = Vec::with_capacity(b.num_columns());
        for array in b.columns() {
            columns.push(cells(array, &options)?);
        }
        for r in 0..b.num_rows() {
            rows.push(columns.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(rows)
}

fn cells(array: &ArrayRef, options: &FormatOptions) -> Result<Vec<Cell>, String> {
    let float = |i: usize, v: f64| {
        if array.is_null(i) {
            Cell::Null
        } else {
            Cell::Float(if v == 0.0 { 0.0 } else { v })
        }
    };
    Ok(match array.data_type() {
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            (0..a.len()).map(|i| float(i, a.value(i))).collect()
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            (0..a.len())
                .map(|i| float(i, f64::from(a.value(i))))
                .collect()
        }
        DataType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            (0..a.len())
                .map(|i| float(i, a.value(i).to_f64()))
                .collect()
        }
        _ => {
            let f = ArrayFormatter::try_new(array.as_ref(), options).map_err(|e| e.to_string())?;
            (0..array.len())
                .map(|i| {
                    if array.is_null(i) {
                        Cell::Null
                    } else {
                        Cell::Text(f.value(i).to_string())
                    }
                })
                .collect()
        }
    })
}

fn order(a: &[Cell], b: &[Cell]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.order(y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

fn show_row(row: &[Cell]) -> String {
    let cells: Vec<String> = row.iter().map(Cell::show).collect();
    format!("({})", cells.join(", "))
}

/// How `got` differs from `want`, in one line, or `None` where they hold the same rows: as multisets, or in
/// the same order where `ordered`; floating-point values equal within the relative `tolerance` (`1e-9` is
/// a sum's reordering on doubles).
pub fn difference(
    want: &[RecordBatch],
    got: &[RecordBatch],
    ordered: bool,
    tolerance: f64,
) -> Result<Option<String>, String> {
    let (mut w, mut g) = (rows_of(want)?, rows_of(got)?);
    if w.len() != g.len() {
        return Ok(Some(format!("{} rows against {}", g.len(), w.len())));
    }
    if let (Some(a), Some(b)) = (w.first(), g.first())
        && a.len() != b.len()
    {
        return Ok(Some(format!("{} columns against {}", b.len(), a.len())));
    }
    let same = |a: &[Cell], b: &[Cell]| a.iter().zip(b).all(|(x, y)| x.close(y, tolerance));
    if ordered {
        return Ok(w.iter().zip(&g).enumerate().find_map(|(i, (a, b))| {
            (!same(a, b)).then(|| {
                format!(
                    "row {} is {} where {} was expected",
                    i + 1,
                    show_row(b),
                    show_row(a)
                )
            })
        }));
    }
    w.sort_by(|a, b| order(a, b));
    g.sort_by(|a, b| order(a, b));
    if w.iter().zip(&g).all(|(a, b)| same(a, b)) {
        return Ok(None);
    }
    // Rows whose floats are within the tolerance of each other may sort in another order on each side:
    // match what is left one row at a time.
    let mut left: Vec<Vec<Cell>> = Vec::new();
    let mut unmatched: Vec<Option<Vec<Cell>>> = g.into_iter().map(Some).collect();
    for a in w {
        match unmatched
            .iter_mut()
            .find(|b| b.as_ref().is_some_and(|b| same(&a, b)))
        {
            Some(b) => *b = None,
            None => left.push(a),
        }
    }
    let extra: Vec<Vec<Cell>> = unmatched.into_iter().flatten().collect();
    Ok(match (left.first(), extra.first()) {
        (None, None) => None,
        (Some(a), Some(b)) => Some(format!(
            "{} rows differ, first {} where {} was expected",
            left.len(),
            show_row(b),
            show_row(a)
        )),
        (Some(a), None) => Some(format!("row {} is missing", show_row(a))),
        (None, Some(b)) => Some(format!("row {} is extra", show_row(b))),
    })
}

/// `batches` as one text (arrow's table), to look for words in: a plan's marks, a message.
pub fn text(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(
        ints: Vec<Option<i64>>,
        floats: Vec<Option<f64>>,
        texts: Vec<Option<&str>>,
    ) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, true),
            Field::new("f", DataType::Float64, true),
            Field::new("t", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ints)),
                Arc::new(Float64Array::from(floats)),
                Arc::new(StringArray::from(texts)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_in_another_order_and_sums_in_their_last_digits_are_the_same() {
        let a = batch(
            vec![Some(1), Some(2), None],
            vec![Some(0.1 + 0.2 + 0.3), Some(f64::NAN), Some(-0.0)],
            vec![Some("x"), None, Some("")],
        );
        let b = batch(
            vec![None, Some(1), Some(2)],
            vec![Some(0.0), Some(0.3 + 0.2 + 0.1), Some(f64::NAN)],
            vec![Some(""), Some("x"), None],
        );
        assert_ne!(0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1);
        assert_eq!(
            difference(
                std::slice::from_ref(&a),
                std::slice::from_ref(&b),
                false,
                1e-9
            ),
            Ok(None)
        );
        let ordered = difference(&[a], &[b], true, 1e-9).unwrap().unwrap();
        assert!(
            ordered.starts_with("row 1 is (NULL, 0.0, \"\")"),
            "{ordered}"
        );
    }

    #[test]
    fn a_real_difference_is_said() {
        let a = batch(
            vec![Some(1), Some(2)],
            vec![Some(1.5), Some(2.0)],
            vec![Some("a"), Some("b")],
        );
        let b = batch(
            vec![Some(1), Some(2)],
            vec![Some(1.5), Some(2.5)],
            vec![Some("a"), Some("b")],
        );
        let d = difference(std::slice::from_ref(&a), &[b], false, 1e-9)
            .unwrap()
            .unwrap();
        assert_eq!(
            d,
            "1 rows differ, first (\"2\", 2.5, \"b\") where (\"2\", 2.0, \"b\") was expected"
        );
        // An empty string is not NULL.
        let c = batch(
            vec![Some(1), Some(2)],
            vec![Some(1.5), Some(2.0)],
            vec![Some("a"), None],
        );
        let e = batch(
            vec![Some(1), Some(2)],
            vec![Some(1.5), Some(2.0)],
            vec![Some("a"), Some("")],
        );
        assert!(difference(&[c], &[e], false, 1e-9).unwrap().is_some());
        let short = batch(vec![Some(1)], vec![Some(1.5)], vec![Some("a")]);
        assert_eq!(
            difference(&[a], &[short], false, 1e-9),
            Ok(Some("1 rows against 2".into()))
        );
    }

    #[test]
    fn floats_close_to_each_other_on_both_sides_still_pair_up() {
        // Sorted by the float first, the two sides pair rows differently.
        let a = batch(
            vec![Some(2), Some(1)],
            vec![Some(1.0), Some(1.0 + 1e-12)],
            vec![None, None],
        );
        let b = batch(
            vec![Some(1), Some(2)],
            vec![Some(1.0), Some(1.0 + 1e-12)],
            vec![None, None],
        );
        let swap = |b: &RecordBatch| b.project(&[1, 0, 2]).unwrap();
        assert_eq!(difference(&[swap(&a)], &[swap(&b)], false, 1e-9), Ok(None));
    }
}
