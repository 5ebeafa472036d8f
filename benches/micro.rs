//! Micro-benches for the hot paths owl adds around DataFusion: `cargo bench --bench micro`
//! (one group: `cargo bench --bench micro -- pruning`).
//!
//! - `meter`: reading a 64 MiB local file straight from `object_store` and through the [`MeteredStore`] every
//!   query uses (whole-object stream and 1 MiB ranges); the difference is the meter's cost per byte.
//! - `pruning`: planning a scan of a table with 10,080 partitions (420 days x 24 hours, one file each, in an
//!   in-memory store): the partition filter evaluated over the registry's partitions, the survivors listed.
//! - `projection`: the same layout projected (`projection.enabled`, nothing registered), and ten years of hours
//!   under one projected date key: planning a scan from the filters (values enumerated or given, then filtered).
//! - `registry`: loading that table's registry file (10,080 partitions) and resolving it for queries; loading it
//!   with each partition's statistics, as a crawl of Parquet files writes them.
//! - `schema_merge`: merging 10,000 file schemas of 40 columns (types drifting, columns added), as the crawler
//!   does for one table, and merging their column statistics.
//!
//! Numbers and the command that produced them are in BENCHMARKS.md.

use arrow::datatypes::DataType;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::prelude::{SessionContext, col, lit};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use owl::catalog::colstats::{self, Bounds, FileBounds};
use owl::catalog::model::{
    Column, ColumnStats, FormatSpec, Partition, PartitionStats, TableDef, TableStats,
};
use owl::catalog::provider::RegistryTable;
use owl::catalog::store::Registry;
use owl::crawler::infer::{self, InferredColumn};
use owl::storage::meter::Meter;
use owl::storage::meter::{MeteredStore, RangeReads};
use std::hint::black_box;
use std::sync::Arc;
use url::Url;

const FILE_BYTES: usize = 64 * 1024 * 1024;
const RANGE: usize = 1024 * 1024;
const DAYS: usize = 420;
const HOURS: usize = 24;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn meter(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..FILE_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(dir.path().join("data.bin"), &data).expect("write");
    let local: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let location = ObjectPath::from("data.bin");
    type MakeStore<'a> = Box<dyn Fn() -> Arc<dyn ObjectStore> + 'a>;
    let stores: [(&str, MakeStore); 2] = [
        ("object_store", Box::new(|| Arc::clone(&local))),
        (
            "metered",
            Box::new(|| {
                Arc::new(MeteredStore::new(
                    Arc::clone(&local),
                    Arc::new(Meter::new()),
                    "file://",
                    RangeReads::Forward,
                ))
            }),
        ),
    ];
    let mut g = c.benchmark_group("meter");
    g.throughput(Throughput::Bytes(FILE_BYTES as u64));
    g.sample_size(20);
    for (name, make) in &stores {
        g.bench_function(BenchmarkId::new("stream_64MiB", name), |b| {
            b.to_async(&rt).iter(|| async {
                let store = make();
                let got = store.get(&location).await.expect("get");
                let bytes = got.bytes().await.expect("bytes");
                assert_eq!(bytes.len(), FILE_BYTES);
                black_box(bytes);
            })
        });
        g.bench_function(BenchmarkId::new("ranges_1MiB", name), |b| {
            b.to_async(&rt).iter(|| async {
                let store = make();
                let mut n = 0;
                for start in (0..FILE_BYTES).step_by(RANGE) {
                    let r = start as u64..(start + RANGE) as u64;
                    n += store.get_range(&location, r).await.expect("range").len();
                }
                assert_eq!(n, FILE_BYTES);
            })
        });
    }
    g.finish();
}

/// A Parquet table of `DAYS` x `HOURS` partitions (`dt` string, `hour` int) at `s3://bench/events/`.
fn partitioned_table() -> TableDef {
    let mut def = TableDef::new(
        "events",
        "default",
        "s3://bench/events/".into(),
        FormatSpec::parquet(),
    );
    def.columns = (0..20)
        .map(|i| {
            Column::new(
                format!("c{i}"),
                if i % 2 == 0 { "bigint" } else { "string" },
            )
        })
        .collect();
    def.partition_keys = vec![Column::new("dt", "string"), Column::new("hour", "int")];
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    def.partitions = (0..DAYS)
        .flat_map(|d| {
            let dt = (start + chrono::Days::new(d as u64)).to_string();
            (0..HOURS).map(move |h| Partition {
                values: vec![dt.clone(), format!("{h:02}")],
                location: format!("dt={dt}/hour={h:02}/"),
                stats: None,
            })
        })
        .collect();
    def.stats = TableStats {
        object_count: Some((DAYS * HOURS) as u64),
        size_bytes: Some((DAYS * HOURS * 1000) as u64),
        record_count: Some((DAYS * HOURS * 100) as u64),
        ..TableStats::default()
    };
    def
}

fn pruning(c: &mut Criterion) {
    let rt = runtime();
    let def = partitioned_table();
    let state = bench_store(
        &rt,
        def.partitions
            .iter()
            .map(|p| format!("events/{}part-0.parquet", p.location)),
    );
    let table = RegistryTable::try_new(def, std::env::temp_dir()).expect("table");
    let one_hour = col("dt")
        .eq(lit("2024-06-01"))
        .and(col("hour").eq(lit(ScalarValue::Int32(Some(5)))));
    let one_day = col("dt").eq(lit("2024-06-01"));
    let one_month = col("dt")
        .gt_eq(lit("2024-06-01"))
        .and(col("dt").lt(lit("2024-07-01")));
    let cases = [
        ("one_hour", vec![one_hour], 1),
        ("one_day", vec![one_day], HOURS),
        ("one_month", vec![one_month], 30 * HOURS),
        ("all", vec![], DAYS * HOURS),
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .map(|(name, filters, files)| (name, &table, filters, files))
        .collect();
    plan_scans(
        c,
        &rt,
        &state,
        "pruning",
        "plan_scan_10080_partitions",
        &cases,
    );
}

/// A session whose `s3://bench` is an in-memory store holding a 1,000-byte object at each of `paths`.
fn bench_store(
    rt: &tokio::runtime::Runtime,
    paths: impl Iterator<Item = String>,
) -> datafusion::execution::SessionState {
    let store = Arc::new(InMemory::new());
    rt.block_on(async {
        for path in paths {
            store
                .put(
                    &ObjectPath::from(path),
                    PutPayload::from_static(&[0u8; 1000]),
                )
                .await
                .expect("put");
        }
    });
    let ctx = SessionContext::new();
    ctx.register_object_store(&Url::parse("s3://bench").expect("url"), store);
    ctx.state()
}

/// Time planning each case's scan (`(name, table, filters, files)`), then check once, outside the timing, that
/// it plans the files it should.
fn plan_scans(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    state: &datafusion::execution::SessionState,
    group: &str,
    bench: &str,
    cases: &[(&str, &RegistryTable, Vec<datafusion::prelude::Expr>, usize)],
) {
    let mut g = c.benchmark_group(group);
    for (name, table, filters, files) in cases {
        g.bench_function(BenchmarkId::new(bench, name), |b| {
            b.to_async(rt).iter(|| async {
                let plan = table.scan(state, None, filters, None).await.expect("scan");
                black_box(plan)
            })
        });
        let plan = rt
            .block_on(table.scan(state, None, filters, None))
            .expect("scan");
        let planned = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string();
        let count = planned.matches("part-0.parquet").count();
        let shown = planned.contains("...");
        assert!(
            count == *files || (shown && count < *files),
            "{name}: planned {count} files, expected {files}"
        );
    }
    g.finish();
}

/// The same layout as [`pruning`]'s table, projected (`projection.enabled`: `dt` a date range of `DAYS` days, `hour`
/// an integer 0-23 of two digits) and nothing registered; then ten years of hours under one date key
/// (`yyyy/MM/dd/HH`, 87,672 values). Each case plans the scan: the keys' values from the filters (or enumerated),
/// the filters evaluated over them, the survivors listed (one LIST each, in an in-memory store).
fn projection(c: &mut Criterion) {
    let rt = runtime();
    let registered = partitioned_table();
    let start = chrono::NaiveDate::from_ymd_opt(2024, 6, 1)
        .expect("date")
        .and_hms_opt(0, 0, 0)
        .expect("time");
    let hours = (0..24 * 30).map(|h| {
        let t = start + chrono::Duration::hours(h);
        format!("logs/{}/part-0.parquet", t.format("%Y/%m/%d/%H"))
    });
    let state = bench_store(
        &rt,
        registered
            .partitions
            .iter()
            .map(|p| format!("events/{}part-0.parquet", p.location))
            .chain(hours),
    );
    let mut hive = registered;
    hive.partitions.clear();
    let last = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
        + chrono::Days::new(DAYS as u64 - 1);
    hive.properties = [
        ("projection.enabled", "true".to_string()),
        ("projection.dt.type", "date".into()),
        ("projection.dt.format", "yyyy-MM-dd".into()),
        ("projection.dt.range", format!("2024-01-01,{last}")),
        ("projection.hour.type", "integer".into()),
        ("projection.hour.range", "0,23".into()),
        ("projection.hour.digits", "2".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut decade = TableDef::new(
        "logs",
        "default",
        "s3://bench/logs/".into(),
        FormatSpec::parquet(),
    );
    decade.columns = hive.columns.clone();
    decade.partition_keys = vec![Column::new("dt", "string")];
    decade.properties = [
        ("projection.enabled", "true"),
        ("projection.dt.type", "date"),
        ("projection.dt.format", "yyyy/MM/dd/HH"),
        ("projection.dt.range", "2015/01/01/00,2024/12/31/23"),
        ("storage.location.template", "s3://bench/logs/${dt}/"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let hive = RegistryTable::try_new(hive, std::env::temp_dir()).expect("table");
    let decade = RegistryTable::try_new(decade, std::env::temp_dir()).expect("table");
    let cases = [
        (
            "hive_10080/one_hour",
            &hive,
            vec![
                col("dt")
                    .eq(lit("2024-06-01"))
                    .and(col("hour").eq(lit(ScalarValue::Int32(Some(5))))),
            ],
            1,
        ),
        (
            "hive_10080/one_day",
            &hive,
            vec![col("dt").eq(lit("2024-06-01"))],
            HOURS,
        ),
        (
            "hive_10080/one_month",
            &hive,
            vec![
                col("dt")
                    .gt_eq(lit("2024-06-01"))
                    .and(col("dt").lt(lit("2024-07-01"))),
            ],
            30 * HOURS,
        ),
        (
            "decade_hourly/one_hour",
            &decade,
            vec![col("dt").eq(lit("2024/06/01/10"))],
            1,
        ),
        (
            "decade_hourly/one_day",
            &decade,
            vec![
                col("dt")
                    .gt_eq(lit("2024/06/02/00"))
                    .and(col("dt").lt(lit("2024/06/03/00"))),
            ],
            HOURS,
        ),
    ];
    plan_scans(c, &rt, &state, "projection", "plan_scan", &cases);
}

fn registry(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    registry.create_database("default", true).expect("database");
    registry
        .create_table(partitioned_table(), false)
        .expect("table");
    let size = std::fs::metadata(registry.table_path("default", "events"))
        .expect("table file")
        .len();
    let mut g = c.benchmark_group("registry");
    g.throughput(Throughput::Bytes(size));
    g.bench_function("load_10080_partitions", |b| {
        b.iter(|| {
            let def = registry.load_table("default", "events").expect("load");
            assert_eq!(def.partitions.len(), DAYS * HOURS);
            black_box(def)
        })
    });
    g.bench_function("load_and_resolve_10080_partitions", |b| {
        b.iter(|| {
            let def = registry.load_table("default", "events").expect("load");
            black_box(RegistryTable::try_new(def, dir.path().to_path_buf()).expect("resolve"))
        })
    });
    g.finish();

    // The same table as a crawl of Parquet files writes it: each partition with its statistics (one file, its
    // rows and bytes, its time, and the bounds of its ten bigint columns).
    let mut def = partitioned_table();
    def.name = "events_stats".into();
    for (i, p) in def.partitions.iter_mut().enumerate() {
        let columns = (0..20)
            .step_by(2)
            .map(|c| {
                let lo = (i * 1000 + c) as i64;
                let stats = ColumnStats {
                    min: Some(lo.to_string()),
                    max: Some((lo + 999_999).to_string()),
                    nulls: Some(0),
                    ..ColumnStats::default()
                };
                (format!("c{c}"), stats)
            })
            .collect();
        p.stats = PartitionStats::new(&TableStats {
            object_count: Some(1),
            size_bytes: Some(1000),
            record_count: Some(100),
            columns,
            last_modified: Some("2024-12-31T00:00:00.000Z".into()),
            files: Some("0123456789abcdef0123456789abcdef".into()),
            footer_bytes: Some([20_480, 20_992]),
        });
    }
    registry.create_table(def, false).expect("table");
    let size = std::fs::metadata(registry.table_path("default", "events_stats"))
        .expect("table file")
        .len();
    let mut g = c.benchmark_group("registry");
    g.throughput(Throughput::Bytes(size));
    g.bench_function("load_10080_partitions_with_statistics", |b| {
        b.iter(|| {
            let def = registry
                .load_table("default", "events_stats")
                .expect("load");
            assert_eq!(def.partitions.len(), DAYS * HOURS);
            black_box(def)
        })
    });
    g.finish();
}

const FILES: usize = 10_000;
const COLUMNS: usize = 40;

/// File `f`'s schema: 40 columns, a few of them `int` in some files and `bigint` or `double` in others, and
/// every hundredth file with two extra columns (a schema that grew).
fn file_schema(f: usize) -> Vec<InferredColumn> {
    let mut cols: Vec<InferredColumn> = (0..COLUMNS)
        .map(|i| InferredColumn {
            name: format!("column_{i:02}"),
            ty: match (i % 4, f % 3) {
                (0, 0) => "int",
                (0, _) => "bigint",
                (1, 1) => "double",
                (1, _) => "bigint",
                (2, _) => "string",
                _ => "timestamp",
            }
            .into(),
        })
        .collect();
    if f.is_multiple_of(100) {
        cols.push(InferredColumn {
            name: format!("added_{}", f / 1000),
            ty: "string".into(),
        });
        cols.push(InferredColumn {
            name: "note".into(),
            ty: "null".into(),
        });
    }
    cols
}

fn schema_merge(c: &mut Criterion) {
    let schemas: Vec<Vec<InferredColumn>> = (0..FILES).map(file_schema).collect();
    let merged = infer::merge(&schemas);
    assert_eq!(merged.len(), COLUMNS + 10 + 1);
    let mut g = c.benchmark_group("schema_merge");
    g.throughput(Throughput::Elements(FILES as u64));
    g.bench_function("infer_merge_10000_files_40_columns", |b| {
        b.iter(|| black_box(infer::merge(black_box(&schemas))))
    });
    // Column statistics of the same files: each file's min/max/nulls for the integer columns.
    let columns = colstats::typed(
        &merged
            .iter()
            .map(|c| Column::new(&c.name, &c.ty))
            .collect::<Vec<_>>(),
    );
    let bounds: Vec<FileBounds> = (0..FILES)
        .map(|f| {
            columns
                .iter()
                .filter(|(_, dt)| *dt == DataType::Int64)
                .map(|(name, _)| {
                    let lo = (f * 1000) as i64;
                    let v = |x| {
                        if f % 3 == 0 {
                            ScalarValue::Int32(Some(x as i32))
                        } else {
                            ScalarValue::Int64(Some(x))
                        }
                    };
                    (
                        name.clone(),
                        Bounds {
                            min: Some(v(lo)),
                            max: Some(v(lo + 999)),
                            nulls: Some(f as u64 % 7),
                            order: Some((9, 9)),
                        },
                    )
                })
                .collect()
        })
        .collect();
    let files: Vec<(Option<&FileBounds>, Option<u64>)> =
        bounds.iter().map(|b| (Some(b), Some(1000))).collect();
    let stats = colstats::merge_files(&columns, &files);
    assert_eq!(
        stats.get("column_00").and_then(|s| s.max.as_deref()),
        Some(((FILES - 1) * 1000 + 999).to_string().as_str())
    );
    g.bench_function("column_statistics_10000_files", |b| {
        b.iter(|| black_box(colstats::merge_files(&columns, black_box(&files))))
    });
    g.finish();
}

criterion_group!(benches, meter, pruning, projection, registry, schema_merge);
criterion_main!(benches);
