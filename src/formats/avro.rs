//! What the crawler learns from an Avro object container file: the schema from its header, and the exact
//! record count when the whole file is in hand (Avro has no footer that holds one).
//!
//! Queries read Avro through DataFusion's own Avro source (arrow-avro), which reads each file whole: a row
//! format has no columns to skip, so the meter's count is the file's size.

use arrow::datatypes::Schema;
use std::io::Cursor;

/// The schema of the Avro file whose first bytes are `head`; with `whole` (head is the entire file), its
/// record count too. `Err(None)`: the header does not fit in `head` (read more); `Err(Some(reason))`: not Avro.
pub(crate) fn inspect(head: &[u8], whole: bool) -> Result<(Schema, Option<u64>), Option<String>> {
    super::guard::quietly(|| inspect_unguarded(head, whole)).unwrap_or_else(|said| {
        Err(Some(format!(
            "corrupt Avro file (its reader failed: {said})"
        )))
    })
}

fn inspect_unguarded(head: &[u8], whole: bool) -> Result<(Schema, Option<u64>), Option<String>> {
    let reader = match arrow_avro::reader::ReaderBuilder::new().build(Cursor::new(head)) {
        Ok(r) => r,
        Err(_) if !whole => return Err(None),
        Err(e) => return Err(Some(format!("corrupt Avro file: {e}"))),
    };
    let schema = reader.schema().as_ref().clone();
    if !whole {
        return Ok((schema, None));
    }
    let mut rows = 0u64;
    for batch in reader {
        rows += batch
            .map_err(|e| Some(format!("corrupt Avro data block: {e}")))?
            .num_rows() as u64;
    }
    Ok((schema, Some(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    fn file(rows: usize) -> Vec<u8> {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("n{i}")),
                )),
            ],
        )
        .unwrap();
        let mut w = arrow_avro::writer::AvroWriter::new(Vec::new(), schema).unwrap();
        w.write(&batch).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        w.into_inner()
    }

    #[test]
    fn schema_from_the_header_and_counts_only_from_the_whole_file() {
        let bytes = file(300);
        let (schema, rows) = inspect(&bytes, true).unwrap();
        assert_eq!(rows, Some(600));
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "name"]);
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        // A head that holds the header: schema, no count.
        let (_, rows) = inspect(&bytes[..bytes.len() / 2], false).unwrap();
        assert_eq!(rows, None);
        // Too little for the header: ask for more; junk: say so.
        assert_eq!(inspect(&bytes[..20], false).unwrap_err(), None);
        let junk = inspect(b"Obj\x01 not really", true).unwrap_err().unwrap();
        assert!(junk.starts_with("corrupt Avro"), "{junk}");
    }
}
