//! `owl serve` through the official AWS SDK for Rust (`aws-sdk-athena`), against a real server process on
//! 127.0.0.1: a query's whole life, results paged and written as Athena writes them, errors with AWS's codes,
//! work groups, prepared statements, named queries, stopping and queueing, results on S3, and the history.
//! Every number the API reports is checked against an independent count (the CLI's solo run, whose bytes
//! other tests check against file sizes and an S3 server's own count; the result file's lines).

mod common;
#[path = "common/s3.rs"]
mod s3;
#[path = "common/serve.rs"]
mod serve;

use aws_sdk_athena::types::{
    QueryExecutionContext, QueryExecutionState as S, ResultConfiguration, WorkGroupConfiguration,
    WorkGroupConfigurationUpdates, WorkGroupState,
};
use common::Fixture;
use serve::{KEY, NARROW_KEY, NARROW_SECRET, SECRET, Served, history, rows, rt, run, solo, wait};

fn error_code<E: aws_sdk_athena::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("").to_string()
}

#[test]
fn a_query_lives_through_the_api_and_leaves_its_results_and_history() {
    let f = Fixture::new();
    let sql = "SELECT status, count(*) AS hits, sum(bytes) AS total FROM weblogs_csv WHERE day = 2 \
               GROUP BY status ORDER BY status";
    let (want, want_bytes) = solo(&f, sql);
    let server = Served::start(&f, &[], &[]);
    let c = server.athena();
    let id = rt().block_on(async {
        let (id, e) = run(&c, sql).await;
        let status = e.status().unwrap();
        assert_eq!(status.state(), Some(&S::Succeeded), "{status:?}");
        assert!(status.submission_date_time().is_some() && status.completion_date_time().is_some());
        assert_eq!(e.query(), Some(sql), "the text as the client sent it");
        assert_eq!(
            e.statement_type(),
            Some(&aws_sdk_athena::types::StatementType::Dml)
        );
        assert_eq!(e.work_group(), Some("primary"));
        let stats = e.statistics().unwrap();
        assert_eq!(stats.data_scanned_in_bytes(), Some(want_bytes as i64));
        let total = stats.total_execution_time_in_millis().unwrap();
        assert!(
            total
                >= stats.engine_execution_time_in_millis().unwrap()
                    + stats.query_queue_time_in_millis().unwrap()
        );

        // Paged two rows at a time: a header row, then the CLI's rows.
        let got = rows(&c, &id, 2).await;
        assert_eq!(
            got[0],
            vec![
                Some("status".into()),
                Some("hits".into()),
                Some("total".into())
            ]
        );
        assert_eq!(got[1..].to_vec(), want);
        let first = c
            .get_query_results()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap();
        let columns = first
            .result_set()
            .unwrap()
            .result_set_metadata()
            .unwrap()
            .column_info();
        let types: Vec<&str> = columns.iter().map(|c| c.r#type()).collect();
        assert_eq!(types, ["bigint", "bigint", "bigint"]);

        // The result file, as Athena writes it: quoted values, header first, one line per row.
        let location = e
            .result_configuration()
            .unwrap()
            .output_location()
            .unwrap()
            .to_string();
        assert!(location.ends_with(&format!("{id}.csv")), "{location}");
        let text = std::fs::read_to_string(&location).unwrap();
        assert_eq!(text.lines().count(), want.len() + 1);
        assert_eq!(
            text.lines().next().unwrap(),
            "\"status\",\"hits\",\"total\""
        );
        assert!(std::path::Path::new(&format!("{location}.metadata")).exists());

        let stats = c
            .get_query_runtime_statistics()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap();
        let rows_stats = stats.query_runtime_statistics().unwrap().rows().unwrap();
        assert_eq!(rows_stats.output_rows(), Some(want.len() as i64));
        assert_eq!(rows_stats.input_bytes(), Some(want_bytes as i64));
        assert_eq!(rows_stats.output_bytes(), Some(text.len() as i64));

        // NULL is a cell without a value; an empty string is an empty value.
        let (nulls, _) = run(
            &c,
            "SELECT CAST(NULL AS varchar) AS a, '' AS b, 'x\"y' AS c",
        )
        .await;
        assert_eq!(
            rows(&c, &nulls, 10).await[1],
            vec![None, Some(String::new()), Some("x\"y".into())]
        );

        // Listed and batch-got; an unknown id is unprocessed, not an error.
        let listed = c.list_query_executions().send().await.unwrap();
        // Newest first.
        assert_eq!(
            listed.query_execution_ids()[..2],
            [nulls.clone(), id.clone()]
        );
        let batch = c
            .batch_get_query_execution()
            .query_execution_ids(&id)
            .query_execution_ids("00000000-0000-4000-8000-000000000000")
            .send()
            .await
            .unwrap();
        assert_eq!(batch.query_executions().len(), 1);
        assert_eq!(batch.unprocessed_query_execution_ids().len(), 1);
        assert_eq!(
            batch.unprocessed_query_execution_ids()[0].query_execution_id(),
            Some("00000000-0000-4000-8000-000000000000")
        );

        // The history has it, with the caller, the bytes and the result location.
        let h = history(&f);
        let entry = h.iter().find(|e| e["query_id"] == id.as_str()).unwrap();
        assert_eq!(entry["user"], KEY);
        assert_eq!(entry["bytes_scanned"], want_bytes);
        assert_eq!(entry["rows"], want.len());
        assert_eq!(entry["state"], "SUCCEEDED");
        assert_eq!(entry["sql"], sql);
        id
    });
    let status = { server }.stop_and_keep();
    assert!(status.success());
    // It survives a restart: the query is read back from the history, its rows from its file.
    let server = Served::start(&f, &[], &[]);
    let c = server.athena();
    rt().block_on(async {
        let listed = c.list_query_executions().send().await.unwrap();
        assert!(listed.query_execution_ids().contains(&id));
        let e = wait(&c, &id).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
        assert_eq!(e.query(), Some(sql));
        let got = rows(&c, &id, 1000).await;
        assert_eq!(got[1..].to_vec(), want);
    });
}

trait StopAndKeep {
    fn stop_and_keep(self) -> std::process::ExitStatus;
}

impl StopAndKeep for Served {
    fn stop_and_keep(mut self) -> std::process::ExitStatus {
        self.stop()
    }
}

#[test]
fn bad_requests_get_aws_error_codes_and_run_nothing() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &[]);
    let before = history(&f).len();
    rt().block_on(async {
        let sql = "SELECT count(*) FROM weblogs_csv";
        // Wrongly signed, unknown key: refused before anything runs.
        let wrong = server.athena_as(KEY, "not-the-secret");
        let e = wrong
            .start_query_execution()
            .query_string(sql)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidSignatureException");
        let unknown = server.athena_as("AKIDUNKNOWN", SECRET);
        let e = unknown
            .start_query_execution()
            .query_string(sql)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "UnrecognizedClientException");
        // A key of `primary` only may not use another work group.
        let narrow = server.athena_as(NARROW_KEY, NARROW_SECRET);
        let e = narrow
            .start_query_execution()
            .query_string(sql)
            .work_group("etl")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "AccessDeniedException");

        let c = server.athena();
        let long = format!("SELECT 1 -- {}", "x".repeat(262_144));
        let e = c
            .start_query_execution()
            .query_string(long)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        assert!(format!("{e:?}").contains("262144"));
        let e = c
            .get_query_execution()
            .query_execution_id("11111111-2222-4333-8444-555555555555")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        let e = c
            .start_query_execution()
            .query_string(sql)
            .work_group("bad name!")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        let (id, _) = run(&c, sql).await;
        let e = c
            .get_query_results()
            .query_execution_id(&id)
            .max_results(1001)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        // A statement that fails is FAILED with its one-line reason, and free.
        let (bad, e) = run(&c, "SELECT nope FROM weblogs_csv").await;
        let status = e.status().unwrap();
        assert_eq!(status.state(), Some(&S::Failed));
        let reason = status.state_change_reason().unwrap();
        assert!(
            reason.contains("nope") && !reason.contains('\n'),
            "{reason}"
        );
        assert_eq!(status.athena_error().unwrap().error_category(), Some(2));
        let e = c
            .get_query_results()
            .query_execution_id(&bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        // A local result folder outside the allowed roots is refused.
        for location in ["/etc/", "/tmp/../etc/", "relative/dir/"] {
            let e = c
                .start_query_execution()
                .query_string(sql)
                .result_configuration(
                    ResultConfiguration::builder()
                        .output_location(location)
                        .build(),
                )
                .send()
                .await
                .unwrap_err();
            assert_eq!(error_code(&e), "InvalidRequestException", "{location}");
        }
    });
    // Requests no SDK sends: unsigned, malformed, unknown operations.
    let (status, body) = server.raw(&[("X-Amz-Target", "AmazonAthena.ListWorkGroups")], "{}");
    assert_eq!(
        (status, body["__type"].as_str()),
        (403, Some("MissingAuthenticationTokenException"))
    );
    let stale = "AWS4-HMAC-SHA256 Credential=AKIDOWLTEST/20200101/us-east-1/athena/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00";
    let (status, body) = server.raw(
        &[
            ("X-Amz-Target", "AmazonAthena.ListWorkGroups"),
            ("X-Amz-Date", "20200101T000000Z"),
            ("Authorization", stale),
        ],
        "{}",
    );
    assert_eq!(status, 403);
    assert_eq!(body["__type"], "InvalidSignatureException");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired")
    );

    let open = Served::start_open(&f);
    let athena = [("X-Amz-Target", "AmazonAthena.StartQueryExecution")];
    let (status, body) = open.raw(&athena, "{not json");
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (_, body) = open.raw(&[("X-Amz-Target", "AmazonAthena.MakeCoffee")], "{}");
    assert_eq!(body["__type"], "UnknownOperationException");
    let (_, body) = open.raw(&[], "{}");
    assert_eq!(body["__type"], "UnknownOperationException");
    let (_, body) = open.raw(&athena, r#"{"QueryString": 5}"#);
    assert_eq!(body["__type"], "SerializationException");
    let (_, body) = open.raw(&athena, "{}");
    assert_eq!(body["__type"], "InvalidRequestException");
    drop(open);

    // Nothing of the refused requests ran (two queries ran: the count and the failed one).
    assert_eq!(history(&f).len(), before + 2);
    // The secret is in no log and no history.
    let mut server = server;
    server.stop();
    assert!(!server.log_text().contains(SECRET));
    let history_dir = f.path().join("catalog/.history");
    for e in std::fs::read_dir(history_dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!text.contains(SECRET));
    }
    // Beyond loopback without credentials: refused at startup.
    let out = f
        .owl()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without credentials"));
}

#[test]
fn work_groups_prepared_statements_and_named_queries() {
    let f = Fixture::new();
    // A table of about 12 MB, over Athena's smallest cutoff (10 MB).
    let dir = f.path().join("lines");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("id,payload\n");
    while text.len() < 12_000_000 {
        text.push_str(&format!("{},{}\n", text.len(), "x".repeat(90)));
    }
    std::fs::write(dir.join("part-0.csv"), &text).unwrap();
    f.run_ok(&["crawl", "lines"]);
    let results = f.path().join("results");
    let results_dir = results.to_string_lossy().into_owned();
    let server = Served::start(&f, &["--threads", "1"], &["--allow-root", &results_dir]);
    let c = server.athena();
    rt().block_on(async {
        c.create_work_group()
            .name("capped")
            .description("ten megabytes a query")
            .configuration(
                WorkGroupConfiguration::builder()
                    .bytes_scanned_cutoff_per_query(10_000_000)
                    .result_configuration(
                        ResultConfiguration::builder()
                            .output_location(format!("{results_dir}/capped/"))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let e = c
            .create_work_group()
            .name("capped")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        let wg = c
            .get_work_group()
            .work_group("capped")
            .send()
            .await
            .unwrap();
        let wg = wg.work_group().unwrap();
        assert_eq!(wg.state(), Some(&WorkGroupState::Enabled));
        let conf = wg.configuration().unwrap();
        assert_eq!(conf.bytes_scanned_cutoff_per_query(), Some(10_000_000));
        assert_eq!(conf.enforce_work_group_configuration(), Some(true));
        let names: Vec<String> = c
            .list_work_groups()
            .send()
            .await
            .unwrap()
            .work_groups()
            .iter()
            .map(|w| w.name().unwrap().to_string())
            .collect();
        assert_eq!(names, ["capped", "primary"]);

        // Its cutoff cancels a query that reads more, billed the cutoff; its location is where results go.
        let id = serve::start_in(&c, "SELECT count(*) FROM lines", "capped").await;
        let e = wait(&c, &id).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Cancelled));
        assert_eq!(
            e.status().unwrap().state_change_reason(),
            Some("Bytes scanned limit was exceeded")
        );
        let h = history(&f);
        let entry = h.iter().find(|h| h["query_id"] == id.as_str());
        let entry = entry.unwrap_or_else(|| {
            let dir = f.path().join("catalog/.history");
            let files: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| std::fs::read_to_string(e.path()).unwrap())
                        .collect()
                })
                .unwrap_or_default();
            panic!("{id} not in {h:?}: {files:?}")
        });
        assert_eq!(entry["billed_bytes"], 10_000_000);
        let id = serve::start_in(&c, "SELECT count(*) AS n FROM weblogs_csv", "capped").await;
        let e = wait(&c, &id).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
        assert!(results.join("capped").join(format!("{id}.csv")).exists());
        // A key of `primary` only sees neither the work group nor its queries.
        let narrow = server.athena_as(NARROW_KEY, NARROW_SECRET);
        let e = narrow
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        let e = narrow
            .get_query_results()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        let seen = narrow.list_work_groups().send().await.unwrap();
        let names: Vec<&str> = seen.work_groups().iter().filter_map(|w| w.name()).collect();
        assert_eq!(names, ["primary"]);

        // Disabled: it runs nothing.
        c.update_work_group()
            .work_group("capped")
            .state(WorkGroupState::Disabled)
            .configuration_updates(
                WorkGroupConfigurationUpdates::builder()
                    .remove_bytes_scanned_cutoff_per_query(true)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let e = c
            .start_query_execution()
            .query_string("SELECT 1")
            .work_group("capped")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");
        c.delete_work_group()
            .work_group("capped")
            .send()
            .await
            .unwrap();
        let e = c
            .delete_work_group()
            .work_group("primary")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");

        // Prepared statements: through the API, and `PREPARE` in SQL, with ExecutionParameters.
        let count_day = "SELECT count(*) AS n FROM weblogs_csv WHERE day = ? AND status = ?";
        c.create_prepared_statement()
            .statement_name("by_day")
            .work_group("primary")
            .query_statement(count_day)
            .description("hits of a day")
            .send()
            .await
            .unwrap();
        let got = c
            .get_prepared_statement()
            .statement_name("by_day")
            .work_group("primary")
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.prepared_statement().unwrap().query_statement(),
            Some(count_day)
        );
        let (want, _) = solo(
            &f,
            "SELECT count(*) AS n FROM weblogs_csv WHERE day = 3 AND status = 404",
        );
        let id = c
            .start_query_execution()
            .query_string("EXECUTE by_day")
            .execution_parameters("3")
            .execution_parameters("404")
            .send()
            .await
            .unwrap()
            .query_execution_id
            .unwrap();
        let e = wait(&c, &id).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded), "{e:?}");
        assert_eq!(e.execution_parameters(), ["3", "404"]);
        assert_eq!(rows(&c, &id, 10).await[1..].to_vec(), want);
        // `?` in a plain query, with its values.
        let id = c
            .start_query_execution()
            .query_string(count_day)
            .execution_parameters("3")
            .execution_parameters("404")
            .send()
            .await
            .unwrap()
            .query_execution_id
            .unwrap();
        wait(&c, &id).await;
        assert_eq!(rows(&c, &id, 10).await[1..].to_vec(), want);
        let (_, e) = run(
            &c,
            "PREPARE from_sql FROM SELECT count(*) FROM weblogs_csv WHERE day = ?",
        )
        .await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
        let listed = c
            .list_prepared_statements()
            .work_group("primary")
            .send()
            .await
            .unwrap();
        let names: Vec<&str> = listed
            .prepared_statements()
            .iter()
            .map(|p| p.statement_name().unwrap())
            .collect();
        assert_eq!(names, ["by_day", "from_sql"]);
        c.delete_prepared_statement()
            .statement_name("by_day")
            .work_group("primary")
            .send()
            .await
            .unwrap();
        let e = c
            .get_prepared_statement()
            .statement_name("by_day")
            .work_group("primary")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "ResourceNotFoundException");
        // The CLI sees what the API prepared.
        let out = f.run_ok(&["query", "--format", "csv", "EXECUTE from_sql USING 3"]);
        assert!(!out.is_empty());

        // Named queries.
        let id = c
            .create_named_query()
            .name("errors")
            .database("default")
            .query_string("SELECT * FROM weblogs_csv WHERE status >= 500")
            .send()
            .await
            .unwrap()
            .named_query_id
            .unwrap();
        let q = c
            .get_named_query()
            .named_query_id(&id)
            .send()
            .await
            .unwrap();
        assert_eq!(q.named_query().unwrap().name(), "errors");
        let ids = c.list_named_queries().send().await.unwrap();
        assert_eq!(ids.named_query_ids(), std::slice::from_ref(&id));
        c.delete_named_query()
            .named_query_id(&id)
            .send()
            .await
            .unwrap();
        let e = c
            .get_named_query()
            .named_query_id(&id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "InvalidRequestException");

        // The catalog: databases and tables of the registry.
        let dbs = c
            .list_databases()
            .catalog_name("AwsDataCatalog")
            .send()
            .await
            .unwrap();
        assert_eq!(dbs.database_list()[0].name(), "default");
        let t = c
            .get_table_metadata()
            .catalog_name("AwsDataCatalog")
            .database_name("default")
            .table_name("weblogs_csv")
            .send()
            .await
            .unwrap();
        let t = t.table_metadata().unwrap();
        let keys: Vec<&str> = t.partition_keys().iter().map(|k| k.name()).collect();
        assert_eq!(keys, ["year", "month", "day"]);
        let listed = c
            .list_table_metadata()
            .catalog_name("AwsDataCatalog")
            .database_name("default")
            .expression("weblogs_.*")
            .send()
            .await
            .unwrap();
        assert!(
            listed
                .table_metadata_list()
                .iter()
                .all(|t| t.name().starts_with("weblogs_"))
        );
        assert!(!listed.table_metadata_list().is_empty());
        let e = c
            .get_database()
            .catalog_name("AwsDataCatalog")
            .database_name("nope")
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e), "MetadataException");
    });
}

#[test]
fn queries_queue_in_order_and_stop_when_asked() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &["--max-concurrent-queries", "1"]);
    let c = server.athena();
    let slow = "SELECT count(*) FROM weblogs_csv a, weblogs_csv b, weblogs_csv c \
                WHERE a.bytes + b.bytes + c.bytes = 7";
    rt().block_on(async {
        let start = |sql: &'static str| {
            let c = c.clone();
            async move {
                c.start_query_execution()
                    .query_string(sql)
                    .send()
                    .await
                    .unwrap()
                    .query_execution_id
                    .unwrap()
            }
        };
        let running = start(slow).await;
        let queued = start("SELECT count(*) FROM weblogs_csv").await;
        let state = |id: String| {
            let c = c.clone();
            async move {
                c.get_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await
                    .unwrap()
                    .query_execution
                    .unwrap()
                    .status
                    .unwrap()
                    .state
                    .unwrap()
            }
        };
        // One slot: the first runs, the second waits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while state(running.clone()).await != S::Running {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(state(queued.clone()).await, S::Queued);
        // Stopping the queued one ends it at once; then the running one.
        c.stop_query_execution()
            .query_execution_id(&queued)
            .send()
            .await
            .unwrap();
        let e = wait(&c, &queued).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Cancelled));
        assert_eq!(e.statistics().unwrap().data_scanned_in_bytes(), Some(0));
        c.stop_query_execution()
            .query_execution_id(&running)
            .send()
            .await
            .unwrap();
        let e = wait(&c, &running).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Cancelled));
        // The slot is free again.
        let (_, e) = run(&c, "SELECT count(*) FROM weblogs_csv").await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
        // A slow query still running when the server stops is cancelled, and in the history.
        let last = start(slow).await;
        while state(last.clone()).await != S::Running {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        last
    });
    let mut server = server;
    assert!(server.stop().success());
    let h = history(&f);
    let states: Vec<&str> = h.iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(
        states.iter().filter(|s| **s == "CANCELLED").count(),
        3,
        "{states:?}"
    );
}

#[test]
fn results_go_to_s3_and_are_read_back_from_there() {
    let s3 = s3::S3Server::start(&["results"]);
    let f = Fixture::new();
    let env = serve::s3_env(&s3.endpoint, s3::ACCESS_KEY, s3::SECRET_KEY);
    let server = Served::start_env(&f, &[], &[], &env);
    let c = server.athena();
    let sql = "SELECT day, count(*) AS n FROM weblogs_parquet GROUP BY day ORDER BY day";
    let (want, _) = solo(&f, sql);
    rt().block_on(async {
        let id = c
            .start_query_execution()
            .query_string(sql)
            .query_execution_context(QueryExecutionContext::builder().database("default").build())
            .result_configuration(
                ResultConfiguration::builder()
                    .output_location("s3://results/athena/")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .query_execution_id
            .unwrap();
        let e = wait(&c, &id).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded), "{e:?}");
        assert_eq!(
            e.result_configuration().unwrap().output_location(),
            Some(format!("s3://results/athena/{id}.csv").as_str())
        );
        let file = s3
            .bucket_dir("results")
            .join("athena")
            .join(format!("{id}.csv"));
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(text.lines().count(), want.len() + 1);
        assert_eq!(rows(&c, &id, 3).await[1..].to_vec(), want);
    });
}

#[test]
fn many_clients_at_once_keep_their_own_bills_and_history_survives_kill_9() {
    let f = Fixture::new();
    let days = [1, 2, 3, 4, 5];
    let sql = |d: i32| format!("SELECT count(*) AS n FROM weblogs_parquet WHERE day = {d}");
    let solo_bytes: Vec<u64> = days.iter().map(|d| solo(&f, &sql(*d)).1).collect();
    assert!(solo_bytes.windows(2).any(|w| w[0] != w[1]) || solo_bytes[0] > 0);
    let server = Served::start(&f, &[], &[]);
    let c = server.athena();
    let ids = rt().block_on(async {
        let mut tasks = Vec::new();
        for client in 0..8 {
            let c = c.clone();
            let sqls: Vec<String> = (0..50)
                .map(|i| sql(days[(client + i) % days.len()]))
                .collect();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for (i, q) in sqls.iter().enumerate() {
                    let (id, e) = run(&c, q).await;
                    assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
                    out.push((
                        id,
                        (client + i) % 5,
                        e.statistics().unwrap().data_scanned_in_bytes().unwrap() as u64,
                    ));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    assert_eq!(ids.len(), 400);
    for (id, day, bytes) in &ids {
        assert_eq!(
            *bytes, solo_bytes[*day],
            "query {id} read what its solo run read"
        );
    }
    let h = history(&f);
    let mut seen: Vec<&str> = h.iter().map(|e| e["query_id"].as_str().unwrap()).collect();
    seen.sort();
    seen.dedup();
    for (id, day, _) in &ids {
        let e = h.iter().find(|e| e["query_id"] == id.as_str()).unwrap();
        assert_eq!(e["bytes_scanned"], solo_bytes[*day]);
        assert_eq!(e["sql"], sql(days[*day]));
    }
    assert_eq!(seen.len(), h.len(), "no entry twice");

    // kill -9 mid-load: the history still parses, and what finished is kept.
    let mut server = server;
    let c = server.athena();
    rt().block_on(async {
        for d in days.iter().cycle().take(40) {
            let _ = c.start_query_execution().query_string(sql(*d)).send().await;
        }
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let after = history(&f);
    assert!(after.len() >= h.len());
    for (id, _, _) in &ids {
        assert!(after.iter().any(|e| e["query_id"] == id.as_str()));
    }
    let server = Served::start(&f, &[], &[]);
    let c = server.athena();
    rt().block_on(async {
        let (_, e) = run(&c, &sql(1)).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
        let first = ids[0].0.clone();
        let e = wait(&c, &first).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
    });
}

#[test]
fn statements_name_local_paths_only_under_the_allowed_roots() {
    let f = Fixture::new();
    let lake = f.path().join("lake");
    std::fs::create_dir_all(lake.join("people")).unwrap();
    std::fs::write(lake.join("people/p.csv"), "id,name\n1,a\n2,b\n3,c\n").unwrap();
    let root = lake.to_string_lossy().into_owned();
    let server = Served::start(&f, &[], &["--allow-root", &root]);
    let c = server.athena();
    let outside = f.path().join("outside");
    let escape = format!("{root}/../outside/");
    rt().block_on(async {
        let refused = [
            "SELECT * FROM '/etc/passwd'".to_string(),
            "SELECT * FROM '../../../../etc/passwd'".to_string(),
            format!("SELECT * FROM '{root}/../sample-data/weblogs_csv/'"),
            // Through the table functions' table arguments.
            "SELECT * FROM tf_idf(TABLE '/etc/passwd')".to_string(),
            "SELECT * FROM drop_null_fields(TABLE '../../../../etc/passwd')".to_string(),
            format!("SELECT * FROM find_matches(TABLE (SELECT * FROM '{root}/../sample-data/docs/'), columns => 'body')"),
            "CREATE EXTERNAL TABLE etc_files (line string) STORED AS CSV LOCATION '/etc/'".to_string(),
            format!("CREATE EXTERNAL TABLE sneaky (line string) STORED AS CSV LOCATION '{escape}'"),
            format!("CREATE TABLE evil WITH (format = 'PARQUET', external_location = '{escape}') AS SELECT 1 AS a"),
            format!("COPY (SELECT 1 AS a) TO '{}/x.csv'", outside.display()),
            "ALTER TABLE weblogs_parquet ADD PARTITION (year = 2030, month = 1, day = 1) LOCATION '/etc/'"
                .to_string(),
            format!(
                "ALTER TABLE weblogs_parquet PARTITION (year = 2024, month = 1, day = 1) SET LOCATION '{escape}'"
            ),
            "CREATE EXTERNAL TABLE etc_hive (line string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION '/etc/'"
                .to_string(),
            format!(
                "CREATE EXTERNAL TABLE projected (line string) PARTITIONED BY (d string) \
                 ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION '{root}/people/' \
                 TBLPROPERTIES ('projection.enabled'='true', 'projection.d.type'='injected', \
                 'storage.location.template'='/etc/${{d}}/')"
            ),
            format!(
                "ALTER TABLE weblogs_parquet SET TBLPROPERTIES ('storage.location.template'='{escape}${{year}}/${{month}}/${{day}}/')"
            ),
            "USE other".to_string(),
        ];
        for sql in &refused {
            let (_, e) = run(&c, sql).await;
            let status = e.status().unwrap();
            assert_eq!(status.state(), Some(&S::Failed), "{sql}");
            let reason = status.state_change_reason().unwrap_or("");
            assert!(
                reason.contains("--allow-root") || reason.starts_with("USE"),
                "{sql}: {reason}"
            );
        }
        assert!(!outside.exists(), "nothing was written outside the roots");
        // Under the root, a path is read as the CLI reads it.
        let (id, e) = run(&c, &format!("SELECT count(*) FROM '{root}/people/'")).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded), "{e:?}");
        assert_eq!(rows(&c, &id, 10).await[1], vec![Some("3".into())]);
        // Tables the registry already has read where it says.
        let (_, e) = run(&c, "SELECT count(*) FROM weblogs_csv").await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
    });
    // The CLI's user is not limited.
    f.run_ok(&[
        "query",
        &format!(
            "SELECT count(*) FROM '{}'",
            f.path().join("sample-data/weblogs_csv/").display()
        ),
    ]);
}

#[test]
fn a_full_queue_refuses_result_reuse_reads_nothing_and_ctas_counts_its_rows() {
    let f = Fixture::new();
    let out = f.path().join("out");
    let out_dir = out.to_string_lossy().into_owned();
    let server = Served::start(
        &f,
        &[],
        &[
            "--max-concurrent-queries",
            "1",
            "--max-queued-queries",
            "1",
            "--allow-root",
            &out_dir,
        ],
    );
    let c = server.athena();
    let slow = "SELECT count(*) FROM weblogs_csv a, weblogs_csv b, weblogs_csv c \
                WHERE a.bytes + b.bytes + c.bytes = 7";
    rt().block_on(async {
        let start = |sql: String| {
            let c = c.clone();
            async move { c.start_query_execution().query_string(sql).send().await }
        };
        let running = start(slow.into()).await.unwrap().query_execution_id.unwrap();
        // The queue hands the one slot to the slow query on its own task: wait until it has.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let e = c
                .get_query_execution()
                .query_execution_id(&running)
                .send()
                .await
                .unwrap();
            let state = e.query_execution().and_then(|q| q.status()).and_then(|s| s.state());
            if state == Some(&S::Running) {
                break;
            }
            assert_eq!(state, Some(&S::Queued), "the slow query ended early");
            assert!(std::time::Instant::now() < deadline, "the slow query never ran");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let queued = start("SELECT 1".into()).await.unwrap().query_execution_id.unwrap();
        let e = start("SELECT 2".into()).await.unwrap_err();
        assert_eq!(error_code(&e), "TooManyRequestsException");
        for id in [&queued, &running] {
            c.stop_query_execution().query_execution_id(id).send().await.unwrap();
            assert_eq!(wait(&c, id).await.status().unwrap().state(), Some(&S::Cancelled));
        }

        // Result reuse: the same text within the age gives the earlier results, nothing scanned.
        let sql = "SELECT status, count(*) AS n FROM weblogs_parquet GROUP BY status ORDER BY status";
        let (first, e) = run(&c, sql).await;
        let scanned = e.statistics().unwrap().data_scanned_in_bytes().unwrap();
        assert!(scanned > 0);
        let reuse = aws_sdk_athena::types::ResultReuseConfiguration::builder()
            .result_reuse_by_age_configuration(
                aws_sdk_athena::types::ResultReuseByAgeConfiguration::builder()
                    .enabled(true)
                    .max_age_in_minutes(60)
                    .build(),
            )
            .build();
        let second = c
            .start_query_execution()
            .query_string(sql)
            .result_reuse_configuration(reuse)
            .send()
            .await
            .unwrap()
            .query_execution_id
            .unwrap();
        assert_ne!(second, first);
        let e = wait(&c, &second).await;
        let stats = e.statistics().unwrap();
        assert_eq!(stats.data_scanned_in_bytes(), Some(0));
        assert_eq!(
            stats.result_reuse_information().map(|r| r.reused_previous_result()),
            Some(true)
        );
        assert_eq!(rows(&c, &second, 100).await, rows(&c, &first, 100).await);
        let h = history(&f);
        let entry = h.iter().find(|e| e["query_id"] == second.as_str()).unwrap();
        assert_eq!(entry["reused_from"], first.as_str());
        assert_eq!(entry["billed_bytes"], 0);

        // CTAS: its results are a count (UpdateCount), as Athena's.
        let (want, _) = solo(&f, "SELECT count(*) FROM weblogs_csv WHERE status = 404");
        let ctas = format!(
            "CREATE TABLE not_found WITH (format = 'PARQUET', external_location = '{out_dir}/nf/') AS \
             SELECT * FROM weblogs_csv WHERE status = 404"
        );
        let (id, e) = run(&c, &ctas).await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded), "{e:?}");
        let r = c.get_query_results().query_execution_id(&id).send().await.unwrap();
        assert_eq!(
            Some(r.update_count().unwrap_or(0).to_string()),
            want[0][0].clone()
        );
        assert!(r.result_set().unwrap().rows().is_empty());
    });
    // Garbage never brings a server down or hurts a query (unsigned: a server without credentials parses it).
    let open = Served::start_open(&f);
    let deep = "{\"a\":".repeat(10_000);
    for body in [
        "",
        "[]",
        "null",
        "{\"QueryString\": {\"x\": 1}}",
        "\u{0}\u{1}",
        &deep,
    ] {
        let (status, reply) = open.raw(
            &[("X-Amz-Target", "AmazonAthena.StartQueryExecution")],
            body,
        );
        assert!((400..500).contains(&status), "{body:?}: {status}");
        assert!(reply["__type"].is_string(), "{body:?}: {reply}");
    }
    let (status, _) = open.raw(&[("X-Amz-Target", "AmazonAthena.ListWorkGroups")], "{}");
    assert_eq!(status, 200);
    let c = server.athena();
    rt().block_on(async {
        let (_, e) = run(&c, "SELECT count(*) FROM weblogs_csv").await;
        assert_eq!(e.status().unwrap().state(), Some(&S::Succeeded));
    });
}
