//! One delivery: a buffer of records -> data files (one per folder its records' prefix names), the partitions
//! they make, and the records that do not fit, each with Firehose's error document.
//!
//! The same records always make the same files at the same paths (the file names come from the log segment's
//! id, not a clock), so delivering a segment again after a crash replaces files with themselves.

use super::wal::Record;
use super::{StreamConfig, Template};
use crate::catalog::location::{check_allowed, prefix_of, resolve_dir};
use crate::catalog::model::{Partition, TableDef};
use crate::catalog::types::to_arrow;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::formats::{hive_escape, hive_unescape};
use arrow::array::{Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The written format and its codec.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Codec {
    Parquet(parquet::basic::Compression),
    Orc(crate::formats::write::Encoding),
}

impl Codec {
    fn extension(self) -> &'static str {
        match self {
            Codec::Parquet(_) => "parquet",
            Codec::Orc(_) => "orc",
        }
    }
}

/// Where and how a stream delivers now: its table as the registry has it at this delivery.
pub(crate) struct Target {
    pub def: TableDef,
    url: url::Url,
    store: Arc<dyn ObjectStore>,
    /// The table's folder in `store`.
    prefix: ObjectPath,
    /// The table's folder on this machine, for syncing what is written (None: an object store).
    local: Option<std::path::PathBuf>,
    /// The data columns as files hold them.
    schema: SchemaRef,
    /// Lower-cased column name -> the column's name and its JSON string (the OpenX JSON SerDe matches keys
    /// case-insensitively).
    names: HashMap<String, (String, Vec<u8>)>,
    /// Whether the data prefix takes nothing from the records (the arrival time alone).
    by_time_only: bool,
    /// The partition keys' types.
    keys: Vec<(String, DataType)>,
    codec: Codec,
    data: Template,
    errors: Template,
}

impl Target {
    /// Where `relative` (a folder below the table's location) is, as a user names it: a local path or a URL.
    pub fn shown(&self, relative: &str) -> String {
        match &self.local {
            Some(dir) => dir.join(relative).display().to_string(),
            None => format!("{}/{relative}", self.url.as_str().trim_end_matches('/')),
        }
    }

    /// The stream's table, checked: it exists, is Parquet or ORC, its location is one this process may write.
    pub fn resolve(engine: &Engine, config: &StreamConfig) -> Result<Target> {
        let registry = engine.registry();
        let def = registry.load_table(&config.database, &config.table)?;
        config.check(&def)?;
        let url = resolve_dir(&def.location, registry.root())?;
        check_allowed(&url, registry.allowed_roots())?;
        let store = engine
            .stores()
            .get_store(&url)
            .map_err(|e| Error::Query(format!("no store for `{url}`: {e}")))?;
        let prefix = prefix_of(&url, &def.location)?;
        let local = (url.scheme() == "file")
            .then(|| url.to_file_path().ok())
            .flatten();
        let fields = def
            .columns
            .iter()
            .map(|c| Ok(Field::new(&c.name, to_arrow(&c.ty, &c.name)?, true)))
            .collect::<Result<Vec<Field>>>()?;
        let names = def
            .columns
            .iter()
            .map(|c| {
                let quoted = serde_json::to_vec(&c.name).unwrap_or_default();
                (c.name.to_lowercase(), (c.name.clone(), quoted))
            })
            .collect();
        let keys = def
            .partition_keys
            .iter()
            .map(|k| Ok((k.name.clone(), to_arrow(&k.ty, &k.name)?)))
            .collect::<Result<Vec<_>>>()?;
        let data = Template::parse(&config.prefix_template(&def), "Prefix")?;
        Ok(Target {
            codec: super::codec(&def, &config.compression)?,
            by_time_only: !data
                .parts
                .iter()
                .any(|p| matches!(p, super::Part::Field(_))),
            data,
            errors: Template::parse(config.error_template(), "ErrorOutputPrefix")?,
            schema: Arc::new(Schema::new(fields)),
            def,
            url,
            store,
            prefix,
            local,
            names,
            keys,
        })
    }
}

/// What a delivery makes.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// Paths below the table's folder, and their bytes.
    pub files: Vec<(String, Bytes)>,
    /// The partitions the records fell in (values as written in the path, and the folder).
    pub partitions: Vec<(Vec<String>, String)>,
    pub delivered: u64,
    pub failed: u64,
    /// How many of `files` hold data (the others, failed records).
    pub data_files: u64,
}

/// A record that does not fit: Firehose's error code and the reason.
struct Failed {
    index: usize,
    code: &'static str,
    message: String,
}

/// Convert `records` (log segment `segment`) for `target`.
pub(crate) fn convert(
    target: &Target,
    stream: &str,
    segment: &str,
    records: &[Record],
) -> Result<Delivery> {
    let mut failed: Vec<Failed> = vec![];
    // Per folder: the records as JSON lines with the table's column names, and each line's record and span.
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut key_checked: HashMap<(usize, String), Option<String>> = HashMap::new();
    let mut folder_of_time: Option<(i64, String)> = None;
    for (index, r) in records.iter().enumerate() {
        let object = match serde_json::from_slice::<Fields<'_>>(&r.data) {
            Ok(o) => o.0,
            Err(e) => {
                let message = match serde_json::from_slice::<serde::de::IgnoredAny>(&r.data) {
                    Ok(_) => "the record is JSON but not an object".to_string(),
                    Err(_) => format!("the record is not JSON: {e}"),
                };
                failed.push(Failed {
                    index,
                    code: "DataFormatConversion.MalformedData",
                    message,
                });
                continue;
            }
        };
        // The prefix: from the arrival time alone (the same for a whole put), or from the record's fields.
        let folder = if target.by_time_only {
            match &folder_of_time {
                Some((ms, f)) if *ms == r.arrival_ms => Ok(f.clone()),
                _ => {
                    let f = target.data.eval(r.arrival_ms, |_| Err(String::new()));
                    if let Ok(f) = &f {
                        folder_of_time = Some((r.arrival_ms, f.clone()));
                    }
                    f
                }
            }
        } else {
            target
                .data
                .eval(r.arrival_ms, |field| field_segment(&object, field))
        };
        let folder = match folder.and_then(|f| {
            // A field's value may not move the file out of the table's folder or out of the queries' sight.
            if let Some(bad) = f
                .split('/')
                .find(|s| s.starts_with('.') || s.starts_with('_'))
            {
                return Err(format!(
                    "the prefix `{f}` has the folder `{bad}`, which queries skip (or which leaves the table's \
                     folder)"
                ));
            }
            check_keys(target, &f, &mut key_checked)?;
            Ok(f)
        }) {
            Ok(f) => f,
            Err(message) => {
                failed.push(Failed {
                    index,
                    code: "DynamicPartitioning.MetadataExtractionFailed",
                    message,
                });
                continue;
            }
        };
        let group = groups.entry(folder).or_default();
        let start = group.text.len();
        group.text.push(b'{');
        let mut first = true;
        for Member(key, value) in &object {
            let name = match target.names.get(key.as_ref()) {
                Some(n) => n,
                None if key.bytes().any(|b| b.is_ascii_uppercase()) => {
                    match target.names.get(&key.to_lowercase()) {
                        Some(n) => n,
                        None => continue,
                    }
                }
                None => continue,
            };
            if !first {
                group.text.push(b',');
            }
            first = false;
            group.text.extend_from_slice(&name.1);
            group.text.push(b':');
            group.text.extend_from_slice(value.get().as_bytes());
        }
        group.text.extend_from_slice(b"}\n");
        group.lines.push((index, start..group.text.len()));
    }

    let mut out = Delivery::default();
    for (folder, group) in groups {
        let first = group
            .lines
            .iter()
            .map(|(i, _)| records[*i].arrival_ms)
            .min()
            .unwrap_or(0);
        let batches = match decode(&target.schema, &group.text) {
            Ok(b) => b,
            Err(_) => {
                // Find the records that do not fit, one by one; the others make the file.
                let mut good = Vec::with_capacity(group.text.len());
                for (index, span) in group.lines {
                    let line = &group.text[span];
                    match decode(&target.schema, line) {
                        Ok(_) => good.extend_from_slice(line),
                        Err(e) => failed.push(Failed {
                            index,
                            code: "DataFormatConversion.MalformedData",
                            message: e,
                        }),
                    }
                }
                if good.is_empty() {
                    continue;
                }
                decode(&target.schema, &good).map_err(Error::Query)?
            }
        };
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        out.delivered += rows as u64;
        let name = file_name(stream, first, segment);
        let bytes = encode(&target.schema, &batches, target.codec)?;
        out.files.push((
            format!("{folder}{name}.{}", target.codec.extension()),
            bytes,
        ));
        out.data_files += 1;
        if !target.keys.is_empty() {
            out.partitions.push((partition_values(&folder), folder));
        }
    }

    if !failed.is_empty() {
        out.failed = failed.len() as u64;
        failed.sort_by_key(|f| f.index);
        let mut by_folder: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let now = chrono::Utc::now().timestamp_millis();
        for f in &failed {
            let r = &records[f.index];
            let folder = target
                .errors
                .eval(r.arrival_ms, |_| Err("no fields in an error prefix".into()))
                .map_err(Error::Query)?;
            let doc = json!({
                "attemptsMade": 1,
                "arrivalTimestamp": r.arrival_ms,
                "ErrorCode": f.code,
                "ErrorMessage": f.message,
                "attemptEndingTimestamp": now,
                "rawData": base64_simd::STANDARD.encode_to_string(&r.data),
                "sequenceNumber": segment,
                "subSequenceNumber": f.index,
                "dataCatalogTable": {
                    "catalogId": null,
                    "databaseName": target.def.database,
                    "tableName": target.def.name,
                    "region": null,
                    "versionId": target.def.version_id,
                    "catalogArn": null,
                },
            });
            let buf = by_folder.entry(folder).or_default();
            buf.extend_from_slice(doc.to_string().as_bytes());
            buf.push(b'\n');
        }
        let first = records[failed[0].index].arrival_ms;
        for (folder, bytes) in by_folder {
            out.files.push((
                format!("{folder}{}", file_name(stream, first, segment)),
                Bytes::from(bytes),
            ));
        }
    }
    Ok(out)
}

/// Firehose's object name: `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<id>`, the id the log segment's random
/// part.
fn file_name(stream: &str, first_ms: i64, segment: &str) -> String {
    let t = chrono::DateTime::from_timestamp_millis(first_ms).unwrap_or_default();
    let id = segment.rsplit('-').next().unwrap_or(segment);
    format!("{stream}-1-{}-{id}", t.format("%Y-%m-%d-%H-%M-%S"))
}

/// A record's field as a path segment: a string, number or boolean (matched case-insensitively, as the OpenX
/// SerDe matches keys), Hive-escaped.
fn field_segment(object: &[Member<'_>], field: &str) -> std::result::Result<String, String> {
    let raw = object
        .iter()
        .rev()
        .find(|f| f.0 == field)
        .or_else(|| {
            object
                .iter()
                .rev()
                .find(|f| f.0.eq_ignore_ascii_case(field))
        })
        .ok_or_else(|| format!("the record has no field `{field}` for the prefix"))?;
    let value: Value = serde_json::from_str(raw.1.get()).map_err(|e| e.to_string())?;
    let value = &value;
    let text = match value {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => return Err(format!("the field `{field}` is null")),
        Value::String(_) => return Err(format!("the field `{field}` is empty")),
        _ => {
            return Err(format!(
                "the field `{field}` is an array or object, not a partition value"
            ));
        }
    };
    Ok(hive_escape(&text))
}

/// The partition values a folder names: each segment's text after `key=`, or the whole segment.
fn partition_values(folder: &str) -> Vec<String> {
    folder
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| hive_unescape(s.split_once('=').map_or(s, |(_, v)| v)))
        .collect()
}

/// Each partition value in `folder` is a value of its key's type (checked once per key and value).
fn check_keys(
    target: &Target,
    folder: &str,
    checked: &mut HashMap<(usize, String), Option<String>>,
) -> std::result::Result<(), String> {
    for (i, value) in partition_values(folder).into_iter().enumerate() {
        let Some((name, ty)) = target.keys.get(i) else {
            break;
        };
        if *ty == DataType::Utf8 {
            continue;
        }
        let verdict = checked.entry((i, value.clone())).or_insert_with(|| {
            let text = StringArray::from(vec![value.as_str()]);
            let opts = arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            };
            match arrow::compute::cast_with_options(&text, ty, &opts) {
                Ok(a) if a.null_count() == 0 => None,
                _ => Some(format!(
                    "`{value}` is not a value of partition key `{name}` ({ty})"
                )),
            }
        });
        if let Some(why) = verdict {
            return Err(why.clone());
        }
    }
    Ok(())
}

/// JSON lines as batches of `schema` (arrow-json: numbers in strings are read, a missing field is NULL); Err
/// says which value did not fit.
fn decode(schema: &SchemaRef, text: &[u8]) -> std::result::Result<Vec<RecordBatch>, String> {
    let clean = |e: arrow::error::ArrowError| e.to_string().replace("Json error: ", "");
    let mut d = arrow::json::ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(BATCH_ROWS)
        .build_decoder()
        .map_err(clean)?;
    let mut out = vec![];
    let mut at = 0;
    while at < text.len() {
        let read = d.decode(&text[at..]).map_err(clean)?;
        at += read;
        if at < text.len() {
            match d.flush().map_err(clean)? {
                Some(b) => out.push(b),
                None if read == 0 => return Err("a record that does not end".into()),
                None => {}
            }
        }
    }
    if let Some(b) = d.flush().map_err(clean)? {
        out.push(b);
    }
    Ok(out)
}

/// Rows a decoded batch holds.
const BATCH_ROWS: usize = 8192;

/// A folder's records, as JSON lines.
#[derive(Default)]
struct Group {
    text: Vec<u8>,
    /// (record index, its line in `text`).
    lines: Vec<(usize, std::ops::Range<usize>)>,
}

/// One member of a record: its key and its value's JSON text, as they are in the record.
#[derive(serde::Deserialize)]
struct Member<'a>(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] &'a RawValue);

/// A record's members in order (duplicates kept: the last one wins, as arrow-json reads them).
struct Fields<'a>(Vec<Member<'a>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> std::result::Result<Fields<'a>, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((k, v)) = m.next_entry::<Cow<'a, str>, &'a RawValue>()? {
                    out.push(Member(k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// One file of the batches.
fn encode(schema: &SchemaRef, batches: &[RecordBatch], codec: Codec) -> Result<Bytes> {
    match codec {
        Codec::Parquet(c) => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(c)
                .build();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(Vec::new(), Arc::clone(schema), Some(props))
                    .map_err(|e| Error::internal("starting a Parquet file", e))?;
            for batch in batches {
                w.write(batch)
                    .map_err(|e| Error::internal("writing a Parquet file", e))?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| Error::internal("finishing a Parquet file", e))?;
            Ok(Bytes::from(bytes))
        }
        Codec::Orc(enc) => {
            let batch = arrow::compute::concat_batches(schema, batches)
                .map_err(|e| Error::internal("joining batches", e))?;
            crate::formats::write::encode_one(&batch, enc).map(Bytes::from)
        }
    }
}

/// Write what `delivery` made under the table's folder (synced, on local disk), then register the partitions
/// the table lacks. Returns the partitions added.
pub(crate) async fn store(
    engine: &Engine,
    target: &Target,
    delivery: &Delivery,
) -> Result<Vec<String>> {
    for (path, bytes) in &delivery.files {
        let at = ObjectPath::parse(format!("{}/{path}", target.prefix))
            .map_err(|e| Error::internal("naming a delivered file", e))?;
        target
            .store
            .put(&at, bytes.clone().into())
            .await
            .map_err(|e| Error::from_store(e, &format!("writing `{path}`")))?;
        if let Some(dir) = &target.local {
            let file = dir.join(path);
            let synced = std::fs::File::open(&file).and_then(|f| f.sync_all());
            synced.map_err(|source| Error::Io {
                context: format!("syncing `{}`", file.display()),
                source,
            })?;
            if let Some(parent) = file.parent()
                && let Ok(d) = std::fs::File::open(parent)
            {
                let _ = d.sync_all();
            }
        }
    }
    let missing: Vec<&(Vec<String>, String)> = delivery
        .partitions
        .iter()
        .filter(|(values, _)| !target.def.partitions.iter().any(|p| &p.values == values))
        .collect();
    if missing.is_empty() {
        return Ok(vec![]);
    }
    let registry = engine.registry();
    let added = registry.update_table(&target.def.database, &target.def.name, |def| {
        let mut added = vec![];
        for (values, folder) in missing {
            if def.partitions.iter().any(|p| &p.values == values) {
                continue;
            }
            def.partitions.push(Partition {
                values: values.clone(),
                location: folder.clone(),
                stats: None,
            });
            added.push(folder.clone());
        }
        def.partitions.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(added)
    })?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_name_partition_values() {
        assert_eq!(
            partition_values("year=2026/month=12/"),
            vec!["2026".to_string(), "12".into()]
        );
        assert_eq!(
            partition_values("2026/12/06/22/"),
            vec!["2026", "12", "06", "22"]
        );
        assert_eq!(partition_values("k=a%2Fb/"), vec!["a/b"]);
    }

    #[test]
    fn fields_become_escaped_segments() {
        let text = r#"{"Region":"eu/west","n":3,"b":true,"z":null,"a":[1]}"#;
        let o = serde_json::from_str::<Fields<'_>>(text).unwrap().0;
        assert_eq!(field_segment(&o, "region").unwrap(), "eu%2Fwest");
        assert_eq!(field_segment(&o, "n").unwrap(), "3");
        assert_eq!(field_segment(&o, "b").unwrap(), "true");
        for bad in ["z", "a", "missing"] {
            assert!(field_segment(&o, bad).is_err(), "{bad}");
        }
    }
}
