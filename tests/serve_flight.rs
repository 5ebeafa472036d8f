//! `owl serve --flight` through arrow-flight's own Flight SQL client and through ADBC's Flight SQL driver (Python,
//! from PyPI), against a real server process: Basic -> bearer token, statements and prepared statements with
//! parameters, the catalog calls, SqlInfo, the bill in the last message's metadata, CancelFlightInfo, errors.
//! Answers are checked against `owl query`'s, bills against the history and the CLI's own count.

mod common;
#[path = "common/serve.rs"]
mod serve;

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_flight::decode::DecodedPayload;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use arrow_flight::{CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightInfo};
use common::Fixture;
use futures::StreamExt;
use prost_flight::Message;
use serde_json::Value;
use serve::{KEY, SECRET, SLOW_QUERY, Served, flight_addr, rt};
use std::time::Duration;

async fn client(addr: &str) -> FlightSqlServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::new(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

/// The batches of a FlightInfo's first endpoint, and the last message's app metadata (the bill).
async fn fetch(
    c: &mut FlightSqlServiceClient<tonic::transport::Channel>,
    info: &FlightInfo,
) -> Result<(Vec<RecordBatch>, Value), tonic::Status> {
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let stream = c
        .do_get(ticket)
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    let mut decoder = stream.into_inner();
    let mut batches = vec![];
    let mut metadata = bytes::Bytes::new();
    while let Some(d) = decoder.next().await {
        let d = d.map_err(|e| tonic::Status::internal(e.to_string()))?;
        if !d.app_metadata().is_empty() {
            metadata = d.app_metadata();
        }
        if let DecodedPayload::RecordBatch(b) = d.payload {
            batches.push(b);
        }
    }
    let bill = serde_json::from_slice(&metadata).unwrap_or(Value::Null);
    Ok((batches, bill))
}

fn csv_of(batches: &[RecordBatch]) -> String {
    let mut out = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        for b in batches {
            w.write(b).unwrap();
        }
    }
    String::from_utf8(out).unwrap()
}

fn start(f: &Fixture) -> Served {
    Served::start(f, &[], &["--flight", "127.0.0.1:0"])
}

#[test]
fn flight_sql_client_queries_prepares_lists_and_cancels() {
    let f = Fixture::new();
    let server = start(&f);
    let addr = flight_addr(&server);
    let sql = "SELECT order_id, customer, quantity, unit_price FROM orders ORDER BY order_id";
    let cli = String::from_utf8(f.run_ok(&["query", "-f", "csv", sql])).unwrap();
    let cli_bytes = f.json(sql)["stats"]["bytes_scanned"].as_u64().unwrap();
    rt().block_on(async {
        // No token, a wrong password: refused.
        let mut anonymous = client(&addr).await;
        let e = anonymous.execute(sql.into(), None).await.err().unwrap();
        assert!(
            e.to_string().contains("valid authentication credentials"),
            "{e}"
        );
        let e = anonymous.handshake(KEY, "wrong").await.err().unwrap();
        assert!(
            e.to_string().contains("valid authentication credentials"),
            "{e}"
        );

        let mut c = client(&addr).await;
        c.handshake(KEY, SECRET).await.unwrap();
        // A statement: Arrow batches (typed, not text), equal to the CLI's rows; the bill in the metadata.
        let info = c.execute(sql.into(), None).await.unwrap();
        let planned: Value = serde_json::from_slice(&info.app_metadata).unwrap();
        let (batches, bill) = fetch(&mut c, &info).await.unwrap();
        assert_eq!(
            batches[0].schema().field(0).data_type(),
            &arrow::datatypes::DataType::Int64
        );
        assert_eq!(csv_of(&batches), cli);
        assert_eq!(bill["query_id"], planned["query_id"]);
        assert_eq!(bill["state"], "SUCCEEDED");
        assert_eq!(bill["bytes_scanned"].as_u64().unwrap(), cli_bytes);
        assert_eq!(bill["billed_bytes"].as_u64().unwrap(), 10_000_000);
        // 10 MB at $5 per TB.
        assert!(
            (bill["cost_usd"].as_f64().unwrap() - 0.00005).abs() < 1e-12,
            "{bill}"
        );
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(bill["rows"].as_u64().unwrap() as usize, rows);

        // A prepared statement with a bound parameter.
        let mut prepared = c
            .prepare(
                "SELECT count(*) AS n FROM orders WHERE quantity > $1".into(),
                None,
            )
            .await
            .unwrap();
        let params = prepared.parameter_schema().unwrap().clone();
        assert_eq!(params.fields().len(), 1);
        let value = arrow::compute::cast(
            &(std::sync::Arc::new(Int64Array::from(vec![2])) as std::sync::Arc<dyn Array>),
            params.field(0).data_type(),
        )
        .unwrap();
        prepared
            .set_parameters(RecordBatch::try_new(std::sync::Arc::new(params), vec![value]).unwrap())
            .unwrap();
        let info = prepared.execute().await.unwrap();
        let (batches, _) = fetch(&mut c, &info).await.unwrap();
        let n = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        let want = f.json("SELECT count(*) AS n FROM orders WHERE quantity > 2")["rows"][0][0]
            .as_u64()
            .unwrap();
        assert_eq!(n as u64, want);
        prepared.close().await.unwrap();

        // The catalog calls.
        let info = c.get_catalogs().await.unwrap();
        let (batches, _) = fetch(&mut c, &info).await.unwrap();
        let names = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(0), "awsdatacatalog");
        let info = c
            .get_db_schemas(CommandGetDbSchemas {
                catalog: None,
                db_schema_filter_pattern: None,
            })
            .await
            .unwrap();
        let (batches, _) = fetch(&mut c, &info).await.unwrap();
        assert!(csv_of(&batches).contains("default"));
        let info = c
            .get_tables(CommandGetTables {
                catalog: None,
                db_schema_filter_pattern: Some("default".into()),
                table_name_filter_pattern: Some("ord%".into()),
                table_types: vec![],
                include_schema: true,
            })
            .await
            .unwrap();
        let (batches, _) = fetch(&mut c, &info).await.unwrap();
        assert_eq!(batches[0].num_rows(), 1);
        let table_schema = batches[0].column_by_name("table_schema").unwrap();
        let table_schema = table_schema
            .as_any()
            .downcast_ref::<arrow::array::BinaryArray>()
            .unwrap();
        let schema =
            arrow::ipc::convert::try_schema_from_ipc_buffer(table_schema.value(0)).unwrap();
        assert!(schema.field_with_name("unit_price").is_ok());
        let info = c.get_sql_info(vec![]).await.unwrap();
        let (batches, _) = fetch(&mut c, &info).await.unwrap();
        assert!(batches[0].num_rows() >= 3);

        // Errors name what was wrong; the connection goes on.
        let e = c
            .execute("SELECT * FROM nope".into(), None)
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("nope"), "{e}");
        let e = c
            .execute("SELECT * FROM '/etc/passwd'".into(), None)
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("/etc/passwd"), "{e}");

        // CancelFlightInfo: the query stops, CANCELLED, billed for what it read.
        let info = c.execute(SLOW_QUERY.into(), None).await.unwrap();
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let stream = c.do_get(ticket).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // The CancelFlightInfo action, as FlightClient::cancel_flight_info sends it (with the bearer token).
        let request = CancelFlightInfoRequest {
            info: Some(info.clone()),
        };
        let mut answers = c
            .do_action(arrow_flight::Action::new(
                "CancelFlightInfo",
                request.encode_to_vec(),
            ))
            .await
            .unwrap();
        let answer = answers.message().await.unwrap().expect("a result");
        let result = CancelFlightInfoResult::decode(answer.body).unwrap();
        assert_eq!(result.status, CancelStatus::Cancelled as i32);
        let mut decoder = stream.into_inner();
        let mut failed = None;
        while let Some(d) = tokio::time::timeout(Duration::from_secs(60), decoder.next())
            .await
            .unwrap()
        {
            if let Err(e) = d {
                failed = Some(e.to_string());
                break;
            }
        }
        assert!(
            failed
                .expect("a cancelled query's stream fails")
                .contains("cancelled")
        );
        let e = c.execute(sql.into(), None).await.unwrap();
        assert_eq!(csv_of(&fetch(&mut c, &e).await.unwrap().0), cli);
    });
    let mut server = server;
    server.stop();
    assert!(!server.log_text().contains(SECRET));
    assert_eq!(serve::cancelled_slow_queries(&f).len(), 1);
}

#[test]
fn adbc_reads_a_result_into_pyarrow() {
    let f = Fixture::new();
    let server = start(&f);
    let addr = flight_addr(&server);
    let sql = "SELECT customer, sum(quantity) AS q, min(order_date) AS first FROM orders GROUP BY customer ORDER BY customer";
    let cli = String::from_utf8(f.run_ok(&["query", "-f", "csv", sql])).unwrap();
    let uri = format!("grpc://{addr}");
    let stdout = serve::run_python(
        &f,
        &server,
        "flight_clients.py",
        &[
            ("OWL_FLIGHT", &uri),
            ("OWL_KEY", KEY),
            ("OWL_SECRET", SECRET),
            ("OWL_SQL", sql),
        ],
    );
    // The script prints the table's values joined by commas (the CLI quotes none of these).
    let got: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    let want: Vec<&str> = cli.lines().collect();
    assert_eq!(got, want);
    assert!(stdout.contains("# types: string,int64,date32"), "{stdout}");
}

#[test]
fn adbc_over_tls() {
    let f = Fixture::new();
    let (cert, key) = serve::test_certificate(&f);
    let (cert_arg, key_arg) = (cert.to_string_lossy(), key.to_string_lossy());
    let server = Served::start(
        &f,
        &[],
        &[
            "--flight",
            "127.0.0.1:0",
            "--flight-tls-cert",
            &cert_arg,
            "--flight-tls-key",
            &key_arg,
        ],
    );
    let addr = server
        .log_text()
        .split("grpc+tls://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a TLS Flight SQL listener")
        .to_string();
    // A client speaking plain gRPC gets nowhere.
    rt().block_on(async {
        let endpoint = tonic::transport::Endpoint::new(format!("http://{addr}")).unwrap();
        let refused = match endpoint.connect().await {
            Err(_) => true,
            Ok(channel) => FlightSqlServiceClient::new(channel)
                .handshake(KEY, SECRET)
                .await
                .is_err(),
        };
        assert!(
            refused,
            "a plain-text client was served over the TLS listener"
        );
    });
    let sql = "SELECT customer, count(*) AS n FROM orders GROUP BY customer ORDER BY customer";
    let cli = String::from_utf8(f.run_ok(&["query", "-f", "csv", sql])).unwrap();
    let uri = format!("grpc+tls://{addr}");
    let stdout = serve::run_python(
        &f,
        &server,
        "flight_clients.py",
        &[
            ("OWL_FLIGHT", &uri),
            ("OWL_TLS_ROOTS", &cert_arg),
            ("OWL_KEY", KEY),
            ("OWL_SECRET", SECRET),
            ("OWL_SQL", sql),
        ],
    );
    let got: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(got, cli.lines().collect::<Vec<_>>());
    assert!(stdout.contains("# refused"), "{stdout}");
}

/// 40,000 notes of 100 characters (`id`, `note`, and `info` a struct of a 60-character `tag`) in one Parquet
/// file: one row group whose strings fill several pages of 1 MB, so that each batch read from it shares them.
fn write_notes(path: &std::path::Path) -> Vec<(i64, String, String)> {
    use arrow::array::{ArrayRef, StructArray};
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    use parquet::arrow::ArrowWriter;
    use std::sync::Arc;
    let rows: Vec<(i64, String, String)> = (0..40_000)
        .map(|i| (i, format!("{i:0>100}"), format!("tag-{i:x>56}")))
        .collect();
    let tag = Field::new("tag", DataType::Utf8, false);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("note", DataType::Utf8, false),
        Field::new(
            "info",
            DataType::Struct(Fields::from(vec![tag.clone()])),
            false,
        ),
    ]));
    let info = StructArray::from(vec![(
        Arc::new(tag),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.2))) as ArrayRef,
    )]);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
            Arc::new(info),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    rows
}

/// Strings read from Parquet are views into their pages' buffers, shared between batches; Flight sends them as
/// `Utf8` (in structs too), each batch with the bytes its rows use (a filtered result sends a tenth of the table,
/// not every page again), and the values are the table's.
#[test]
fn strings_travel_as_utf8_with_the_bytes_their_rows_use() {
    use arrow::array::AsArray;
    let f = Fixture::new();
    let rows = write_notes(&f.path().join("lake/notes/part-0.parquet"));
    f.run_ok(&["query", "CREATE DATABASE lake"]);
    f.run_ok(&["-d", "lake", "crawl", "lake/notes"]);
    let server = start(&f);
    let addr = flight_addr(&server);
    rt().block_on(async {
        let mut c = client(&addr).await;
        c.handshake(KEY, SECRET).await.unwrap();
        for (sql, every) in [
            ("SELECT id, note, info FROM lake.notes ORDER BY id", 1),
            (
                "SELECT id, note, info FROM lake.notes WHERE id % 10 = 0 ORDER BY id",
                10,
            ),
        ] {
            let info = c.execute(sql.into(), None).await.unwrap();
            let ticket = info.endpoint[0].ticket.clone().unwrap();
            let mut decoder = c.do_get(ticket).await.unwrap().into_inner();
            let (mut wire, mut batches) = (0, vec![]);
            while let Some(d) = decoder.next().await {
                let d = d.unwrap();
                wire += d.inner.data_body.len() + d.inner.data_header.len();
                if let DecodedPayload::RecordBatch(b) = d.payload {
                    batches.push(b);
                }
            }
            let wire_types: Vec<String> = batches[0]
                .schema()
                .fields()
                .iter()
                .map(|f| f.data_type().to_string())
                .collect();
            assert_eq!(wire_types[..2], ["Int64", "Utf8"], "{sql}");
            assert!(
                wire_types[2].starts_with("Struct(")
                    && !wire_types.iter().any(|t| t.contains("View")),
                "{sql}: {wire_types:?}"
            );
            let schema = info.try_decode_schema().unwrap();
            assert_eq!(schema.fields(), batches[0].schema().fields(), "{sql}");
            let want: Vec<&(i64, String, String)> =
                rows.iter().filter(|r| r.0 % every == 0).collect();
            let mut got = vec![];
            for b in &batches {
                let ids = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
                let notes =
                    arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8).unwrap();
                let tags = arrow::compute::cast(
                    b.column(2).as_struct().column(0),
                    &arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                for i in 0..b.num_rows() {
                    got.push((
                        ids.value(i),
                        notes.as_string::<i32>().value(i).to_string(),
                        tags.as_string::<i32>().value(i).to_string(),
                    ));
                }
            }
            assert_eq!(got.len(), want.len(), "{sql}");
            assert!(got.iter().zip(&want).all(|(g, w)| g == *w), "{sql}");
            // What the rows hold: an id, a note and a tag, each string with its 16-byte view.
            let values: usize = want
                .iter()
                .map(|r| 8 + 16 + r.1.len() + 16 + r.2.len())
                .sum();
            assert!(
                wire < values + values / 4,
                "{sql}: {wire} bytes on the wire for {values} bytes of values"
            );
        }
    });
}
