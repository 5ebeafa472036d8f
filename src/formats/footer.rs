//! Reading a Parquet footer the way a query over a table reads it: the last [`PARQUET_FOOTER_HINT`] bytes,
//! then, only when the footer is larger, the part of it that suffix missed. The crawler (schemas, row counts)
//! and estimates (column chunk sizes) use this one reader, so what they read is what a query pays for.

use crate::config::PARQUET_FOOTER_HINT;
use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use std::ops::Range;

/// One byte range, received whole: through `get_ranges`, which a local store serves with one open-and-read
/// (no stream) and the meter serves remotely with one whole GET.
#[allow(clippy::single_range_in_vec_init)]
pub async fn read_range(
    store: &dyn ObjectStore,
    location: &Path,
    range: Range<u64>,
) -> object_store::Result<Bytes> {
    Ok(store
        .get_ranges(location, &[range])
        .await?
        .pop()
        .unwrap_or_default())
}

/// The footer of the `size`-byte Parquet file at `location`, and its length in the file (its metadata and the
/// 8 bytes of length and magic). `whole`: the file's bytes when the caller already has them (a file smaller than
/// the hint), so nothing more is read. Errors are one-line reasons.
pub async fn read_footer(
    store: &dyn ObjectStore,
    location: &Path,
    size: u64,
    whole: Option<Bytes>,
) -> Result<(ParquetMetaData, u64), String> {
    if size < 12 {
        return Err("corrupt Parquet: too small to hold a footer".into());
    }
    let corrupt = |e: &dyn std::fmt::Display| format!("corrupt Parquet footer: {e}");
    let read = |range| async move {
        read_range(store, location, range)
            .await
            .map_err(|e| format!("cannot read: {e}"))
    };
    let hint = (PARQUET_FOOTER_HINT as u64).min(size);
    let tail = match whole {
        Some(all) if all.len() as u64 == size => all.slice((size - hint) as usize..),
        _ => read(size - hint..size).await?,
    };
    let n = tail.len();
    if (n as u64) < hint || !tail.ends_with(b"PAR1") {
        return Err("corrupt Parquet: no `PAR1` at the end of the file".into());
    }
    let meta_len = u32::from_le_bytes([tail[n - 8], tail[n - 7], tail[n - 6], tail[n - 5]]) as u64;
    if meta_len + 12 > size {
        return Err(corrupt(&format!(
            "footer length {meta_len} exceeds the file ({size} bytes)"
        )));
    }
    let footer = meta_len + 8;
    let buf = if footer <= hint {
        tail.slice(n - footer as usize..n - 8)
    } else {
        let head = read(size - footer..size - hint).await?;
        let mut all = head.to_vec();
        all.extend_from_slice(&tail[..n - 8]);
        Bytes::from(all)
    };
    let md = super::guard::quietly(|| ParquetMetaDataReader::decode_metadata(&buf))
        .map_err(|said| corrupt(&format!("its decoder failed: {said}")))?
        .map_err(|e| corrupt(&e))?;
    Ok((md, footer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    #[tokio::test]
    async fn reads_small_and_large_footers_and_names_junk() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        // A footer larger than the hint: many columns with long names.
        let fields: Vec<(String, arrow::array::ArrayRef)> = (0..300)
            .map(|i| {
                (
                    format!("a_rather_long_column_name_number_{i:04}"),
                    std::sync::Arc::new(arrow::array::Int64Array::from(vec![i as i64]))
                        as arrow::array::ArrayRef,
                )
            })
            .collect();
        let batch = arrow::array::RecordBatch::try_from_iter(fields).unwrap();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let n = buf.len();
        let meta_len = u32::from_le_bytes(buf[n - 8..n - 4].try_into().unwrap()) as usize;
        assert!(
            meta_len > PARQUET_FOOTER_HINT,
            "{meta_len}: the test needs a large footer"
        );
        std::fs::write(dir.path().join("wide.parquet"), &buf).unwrap();
        let (md, footer) = read_footer(&store, &Path::from("wide.parquet"), buf.len() as u64, None)
            .await
            .unwrap();
        assert_eq!(md.file_metadata().schema_descr().num_columns(), 300);
        assert_eq!(footer, meta_len as u64 + 8);
        assert_eq!(md.file_metadata().num_rows(), 1);

        std::fs::write(dir.path().join("junk.parquet"), b"definitely not parquet").unwrap();
        let e = read_footer(&store, &Path::from("junk.parquet"), 22, None)
            .await
            .unwrap_err();
        assert!(e.contains("no `PAR1`"), "{e}");
    }
}
