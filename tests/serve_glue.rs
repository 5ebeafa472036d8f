//! `owl serve`'s Glue API through the official AWS SDK for Rust (`aws-sdk-glue`), against a real server process:
//! databases, tables and versions, partitions, crawlers that really crawl, and the tables they make queried
//! through the Athena API. Row counts are checked against the lines the test wrote.

mod common;
#[path = "common/serve.rs"]
mod serve;

use aws_sdk_glue::types::{
    Column, CrawlerState, CrawlerTargets, DatabaseInput, LastCrawlStatus, PartitionInput,
    PartitionValueList, S3Target, SerDeInfo, StorageDescriptor, TableInput,
};
use common::Fixture;
use serve::{Served, rows, rt, run};
use std::path::Path;

fn code<E: aws_sdk_glue::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("").to_string()
}

/// `n` CSV rows (`id,name`) with a header, in `dir/part-0.csv`.
fn write_csv(dir: &Path, first: usize, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::from("id,name\n");
    for i in first..first + n {
        text.push_str(&format!("{i},name-{i}\n"));
    }
    std::fs::write(dir.join("part-0.csv"), text).unwrap();
}

/// The crawler once its crawl has ended (READY, with a last crawl), within a minute.
async fn crawled(glue: &aws_sdk_glue::Client, name: &str) -> aws_sdk_glue::types::Crawler {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let c = glue.get_crawler().name(name).send().await.unwrap();
        let c = c.crawler().unwrap().clone();
        if c.state() == Some(&CrawlerState::Ready) && c.last_crawl().is_some() {
            return c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the crawl did not end"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn csv_table(name: &str, location: &str, partition_keys: &[&str]) -> TableInput {
    let column = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    TableInput::builder()
        .name(name)
        .table_type("EXTERNAL_TABLE")
        .parameters("classification", "csv")
        .parameters("skip.header.line.count", "1")
        .set_partition_keys(Some(
            partition_keys.iter().map(|k| column(k, "int")).collect(),
        ))
        .storage_descriptor(
            StorageDescriptor::builder()
                .columns(column("id", "bigint"))
                .columns(column("name", "string"))
                .location(location)
                .input_format("org.apache.hadoop.mapred.TextInputFormat")
                .serde_info(
                    SerDeInfo::builder()
                        .serialization_library("org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe")
                        .parameters("field.delim", ",")
                        .build(),
                )
                .build(),
        )
        .build()
        .unwrap()
}

#[test]
fn glue_databases_tables_partitions_and_crawlers() {
    let f = Fixture::new();
    let data = f.path().join("lake");
    write_csv(&data.join("people"), 0, 25);
    write_csv(&data.join("events/day=1"), 0, 7);
    write_csv(&data.join("events/day=2"), 100, 11);
    write_csv(&data.join("crawled/orders"), 0, 42);
    let root = data.to_string_lossy().into_owned();
    let server = Served::start(&f, &[], &["--allow-root", &root]);
    let glue = server.glue();
    let athena = server.athena();
    rt().block_on(async {
        // A key limited to Athena may not call Glue.
        let narrow = server.glue_as(serve::NARROW_KEY, serve::NARROW_SECRET);
        let e = narrow.get_databases().send().await.unwrap_err();
        assert_eq!(code(&e), "AccessDeniedException");

        // Databases.
        let dbs = glue.get_databases().send().await.unwrap();
        let names: Vec<&str> = dbs.database_list().iter().map(|d| d.name()).collect();
        assert_eq!(names, ["default"]);
        glue.create_database()
            .database_input(DatabaseInput::builder().name("lake").build().unwrap())
            .send()
            .await
            .unwrap();
        let e = glue
            .create_database()
            .database_input(DatabaseInput::builder().name("lake").build().unwrap())
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "AlreadyExistsException");
        let e = glue.get_database().name("nope").send().await.unwrap_err();
        assert_eq!(code(&e), "EntityNotFoundException");

        // A table, created through Glue, queried through Athena.
        glue.create_table()
            .database_name("lake")
            .table_input(csv_table("people", &format!("{root}/people/"), &[]))
            .send()
            .await
            .unwrap();
        let e = glue
            .create_table()
            .database_name("lake")
            .table_input(csv_table("people", &format!("{root}/people/"), &[]))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "AlreadyExistsException");
        let (id, e) = run(
            &athena,
            "SELECT count(*) AS n, max(id) AS top FROM lake.people",
        )
        .await;
        assert_eq!(
            e.status().unwrap().state(),
            Some(&aws_sdk_athena::types::QueryExecutionState::Succeeded),
            "{e:?}"
        );
        assert_eq!(
            rows(&athena, &id, 10).await[1],
            vec![Some("25".into()), Some("24".into())]
        );
        // Locations outside the allowed roots, or climbing out of them, are refused.
        for bad in [
            "/etc/",
            &format!("{root}/../"),
            "relative/",
            "http://example.com/x/",
        ] {
            let e = glue
                .create_table()
                .database_name("lake")
                .table_input(csv_table("sneaky", bad, &[]))
                .send()
                .await
                .unwrap_err();
            assert_eq!(code(&e), "InvalidInputException", "{bad}");
        }
        let t = glue
            .get_table()
            .database_name("lake")
            .name("people")
            .send()
            .await
            .unwrap();
        let t = t.table().unwrap();
        let sd = t.storage_descriptor().unwrap();
        assert_eq!(sd.columns().len(), 2);
        assert_eq!(
            t.parameters()
                .unwrap()
                .get("classification")
                .map(String::as_str),
            Some("csv")
        );
        // An update adds a column: a new version, listed newest first.
        let mut input = csv_table("people", &format!("{root}/people/"), &[]);
        input
            .storage_descriptor
            .as_mut()
            .unwrap()
            .columns
            .as_mut()
            .unwrap()
            .push(
                Column::builder()
                    .name("extra")
                    .r#type("string")
                    .build()
                    .unwrap(),
            );
        glue.update_table()
            .database_name("lake")
            .table_input(input)
            .send()
            .await
            .unwrap();
        let versions = glue
            .get_table_versions()
            .database_name("lake")
            .table_name("people")
            .send()
            .await
            .unwrap();
        let versions = versions.table_versions();
        assert_eq!(versions.len(), 2);
        assert_eq!(
            versions[0]
                .table()
                .unwrap()
                .storage_descriptor()
                .unwrap()
                .columns()
                .len(),
            3
        );

        // A partitioned table: partitions added and dropped through Glue decide what queries read.
        glue.create_table()
            .database_name("lake")
            .table_input(csv_table("events", &format!("{root}/events/"), &["day"]))
            .send()
            .await
            .unwrap();
        let part = |d: &str| {
            PartitionInput::builder()
                .values(d)
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .location(format!("{root}/events/day={d}/"))
                        .build(),
                )
                .build()
        };
        let r = glue
            .batch_create_partition()
            .database_name("lake")
            .table_name("events")
            .partition_input_list(part("1"))
            .partition_input_list(part("2"))
            .partition_input_list(part("1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.errors().len(), 1, "the repeated partition is an error");
        let parts = glue
            .get_partitions()
            .database_name("lake")
            .table_name("events")
            .expression("day = '2'")
            .send()
            .await
            .unwrap();
        assert_eq!(parts.partitions().len(), 1);
        assert_eq!(parts.partitions()[0].values(), ["2"]);
        let (id, _) = run(&athena, "SELECT count(*) FROM lake.events WHERE day = 2").await;
        assert_eq!(rows(&athena, &id, 10).await[1], vec![Some("11".into())]);
        let (id, _) = run(&athena, "SELECT count(*) FROM lake.events").await;
        assert_eq!(rows(&athena, &id, 10).await[1], vec![Some("18".into())]);
        glue.batch_delete_partition()
            .database_name("lake")
            .table_name("events")
            .partitions_to_delete(PartitionValueList::builder().values("1").build().unwrap())
            .send()
            .await
            .unwrap();
        let (id, _) = run(&athena, "SELECT count(*) FROM lake.events").await;
        assert_eq!(rows(&athena, &id, 10).await[1], vec![Some("11".into())]);

        // Tables listed with an expression, and deleted.
        let tables = glue
            .get_tables()
            .database_name("lake")
            .expression("peo.*")
            .send()
            .await
            .unwrap();
        let names: Vec<&str> = tables.table_list().iter().map(|t| t.name()).collect();
        assert_eq!(names, ["people"]);
        glue.delete_table()
            .database_name("lake")
            .name("people")
            .send()
            .await
            .unwrap();
        let e = glue
            .get_table()
            .database_name("lake")
            .name("people")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "EntityNotFoundException");

        // A crawler really crawls: READY -> RUNNING -> READY, its last crawl and metrics say what it made (as
        // Glue, one table at the include path, its subfolder a partition).
        let target = |p: String| {
            CrawlerTargets::builder()
                .s3_targets(S3Target::builder().path(p).build())
                .build()
        };
        let e = glue
            .create_crawler()
            .name("bad")
            .role("owl")
            .database_name("lake")
            .targets(target("/etc/".into()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "InvalidInputException");
        glue.create_crawler()
            .name("orders-crawler")
            .role("owl")
            .database_name("lake")
            .targets(target(format!("{root}/crawled/")))
            .send()
            .await
            .unwrap();
        let c = glue
            .get_crawler()
            .name("orders-crawler")
            .send()
            .await
            .unwrap();
        assert_eq!(c.crawler().unwrap().state(), Some(&CrawlerState::Ready));
        glue.start_crawler()
            .name("orders-crawler")
            .send()
            .await
            .unwrap();
        let crawler = crawled(&glue, "orders-crawler").await;
        assert_eq!(
            crawler.last_crawl().unwrap().status(),
            Some(&LastCrawlStatus::Succeeded)
        );
        let metrics = glue
            .get_crawler_metrics()
            .crawler_name_list("orders-crawler")
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.crawler_metrics_list()[0].tables_created(), 1);
        // A recrawl after the files gained a column updates the table (a new version), created none.
        std::fs::write(
            data.join("crawled/orders/part-0.csv"),
            (0..42).fold(String::from("id,name,extra\n"), |t, i| {
                t + &format!("{i},n{i},x\n")
            }),
        )
        .unwrap();
        glue.start_crawler()
            .name("orders-crawler")
            .send()
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let m = loop {
            let m = glue
                .get_crawler_metrics()
                .crawler_name_list("orders-crawler")
                .send()
                .await
                .unwrap();
            let m = m.crawler_metrics_list()[0].clone();
            let c = glue
                .get_crawler()
                .name("orders-crawler")
                .send()
                .await
                .unwrap();
            if c.crawler().unwrap().state() == Some(&CrawlerState::Ready) && m.tables_updated() == 1
            {
                break m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the recrawl did not end: {m:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!((m.tables_created(), m.tables_deleted()), (0, 0));
        let versions = glue
            .get_table_versions()
            .database_name("lake")
            .table_name("crawled")
            .send()
            .await
            .unwrap();
        assert_eq!(versions.table_versions().len(), 2);
        let (id, e) = run(&athena, "SELECT count(*) FROM lake.crawled").await;
        assert_eq!(
            e.status().unwrap().state(),
            Some(&aws_sdk_athena::types::QueryExecutionState::Succeeded),
            "{e:?}"
        );
        assert_eq!(rows(&athena, &id, 10).await[1], vec![Some("42".into())]);
        let listed = glue.list_crawlers().send().await.unwrap();
        assert_eq!(listed.crawler_names(), ["orders-crawler"]);
        glue.delete_crawler()
            .name("orders-crawler")
            .send()
            .await
            .unwrap();
        let e = glue
            .get_crawler()
            .name("orders-crawler")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "EntityNotFoundException");

        // A database is deleted with its tables.
        glue.delete_database().name("lake").send().await.unwrap();
        let e = glue
            .get_tables()
            .database_name("lake")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "EntityNotFoundException");
    });
}

#[test]
fn grok_classifiers_made_through_glue_drive_its_crawlers() {
    use aws_sdk_glue::types::{CreateGrokClassifierRequest, UpdateGrokClassifierRequest};
    let f = Fixture::new();
    let data = f.path().join("lake");
    std::fs::create_dir_all(data.join("app")).unwrap();
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!(
            "2024-06-01 10:00:{:02} INFO api took {i}ms\n",
            i % 60
        ));
    }
    std::fs::write(data.join("app/app.log"), text).unwrap();
    let root = data.to_string_lossy().into_owned();
    let server = Served::start(&f, &[], &["--allow-root", &root]);
    let glue = server.glue();
    rt().block_on(async {
        let grok_with = |pattern: &str, custom: Option<&str>| {
            CreateGrokClassifierRequest::builder()
                .classification("applog")
                .name("applog")
                .grok_pattern(pattern)
                .set_custom_patterns(custom.map(str::to_string))
                .build()
                .unwrap()
        };
        let grok = |pattern: &str| grok_with(pattern, None);
        let e = glue
            .create_classifier()
            .grok_classifier(grok("%{NOSUCH:x}"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "InvalidInputException");
        // MS is the classifier's own pattern: without CustomPatterns it is undefined.
        let e = glue
            .create_classifier()
            .grok_classifier(grok(
                "%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{WORD:component} took %{MS:ms:int}ms",
            ))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "InvalidInputException");
        glue.create_classifier()
            .grok_classifier(grok_with(
                "%{TIMESTAMP_ISO8601:ts} %{LOGLEVEL:level} %{WORD:component} took %{MS:ms:int}ms",
                Some("MS [0-9]+"),
            ))
            .send()
            .await
            .unwrap();
        let e = glue
            .create_classifier()
            .grok_classifier(grok("%{WORD:w}"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "AlreadyExistsException");
        let c = glue.get_classifier().name("applog").send().await.unwrap();
        let g = c.classifier().unwrap().grok_classifier().unwrap();
        assert_eq!(g.classification(), "applog");
        assert_eq!(g.custom_patterns(), Some("MS [0-9]+"));
        assert_eq!(g.version(), 1);
        glue.update_classifier()
            .grok_classifier(
                UpdateGrokClassifierRequest::builder()
                    .name("applog")
                    .classification("app_log")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let all = glue.get_classifiers().send().await.unwrap();
        assert_eq!(all.classifiers().len(), 1);
        let g = all.classifiers()[0].grok_classifier().unwrap();
        assert_eq!((g.classification(), g.version()), ("app_log", 2));

        let target = CrawlerTargets::builder()
            .s3_targets(S3Target::builder().path(format!("{root}/app/")).build())
            .build();
        let e = glue
            .create_crawler()
            .name("c")
            .role("owl")
            .database_name("default")
            .targets(target.clone())
            .classifiers("nope")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "EntityNotFoundException");
        glue.create_crawler()
            .name("c")
            .role("owl")
            .database_name("default")
            .targets(target)
            .classifiers("applog")
            .send()
            .await
            .unwrap();
        let c = glue.get_crawler().name("c").send().await.unwrap();
        assert_eq!(c.crawler().unwrap().classifiers(), ["applog"]);
        glue.start_crawler().name("c").send().await.unwrap();
        let c = crawled(&glue, "c").await;
        assert_eq!(
            c.last_crawl().unwrap().status(),
            Some(&LastCrawlStatus::Succeeded),
            "{c:?}"
        );
        let t = glue
            .get_table()
            .database_name("default")
            .name("app")
            .send()
            .await
            .unwrap();
        let t = t.table().unwrap();
        assert_eq!(
            t.parameters()
                .unwrap()
                .get("classification")
                .map(String::as_str),
            Some("app_log")
        );
        let sd = t.storage_descriptor().unwrap();
        assert_eq!(
            sd.serde_info().unwrap().serialization_library(),
            Some("com.amazonaws.glue.serde.GrokSerDe")
        );
        let cols: Vec<(&str, &str)> = sd
            .columns()
            .iter()
            .map(|c| (c.name(), c.r#type().unwrap_or_default()))
            .collect();
        assert_eq!(
            cols,
            [
                ("ts", "string"),
                ("level", "string"),
                ("component", "string"),
                ("ms", "int")
            ]
        );
        let athena = server.athena();
        let (id, e) = run(&athena, "SELECT sum(ms), count(*) FROM default.app").await;
        assert_eq!(
            e.status().unwrap().state(),
            Some(&aws_sdk_athena::types::QueryExecutionState::Succeeded),
            "{e:?}"
        );
        assert_eq!(
            rows(&athena, &id, 10).await[1],
            vec![Some(((0..40).sum::<i32>()).to_string()), Some("40".into())]
        );
        glue.delete_classifier()
            .name("applog")
            .send()
            .await
            .unwrap();
        let e = glue
            .get_classifier()
            .name("applog")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "EntityNotFoundException");
    });
}

#[test]
fn json_serde_parameters_and_cloudtrails_input_format_round_trip_through_glue() {
    let f = Fixture::new();
    let data = f.path().join("lake");
    std::fs::create_dir_all(data.join("events")).unwrap();
    std::fs::write(
        data.join("events/part-0.json"),
        "{\"eventTime\": \"t1\", \"Id\": 1}\nnot json\n{\"eventTime\": \"t2\", \"Id\": 2}\n",
    )
    .unwrap();
    std::fs::create_dir_all(data.join("trail")).unwrap();
    std::fs::write(
        data.join("trail/x_CloudTrail.json"),
        "{\"Records\": [{\"eventName\": \"GetObject\", \"requestParameters\": {\"bucketName\": \"b\"}}, {\"eventName\": \"PutObject\"}]}",
    )
    .unwrap();
    let root = data.to_string_lossy().into_owned();
    let server = Served::start(&f, &[], &["--allow-root", &root]);
    let glue = server.glue();
    let column = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    rt().block_on(async {
        let events = TableInput::builder()
            .name("events")
            .parameters("classification", "json")
            .storage_descriptor(
                StorageDescriptor::builder()
                    .columns(column("ts", "string"))
                    .columns(column("id", "bigint"))
                    .location(format!("{root}/events/"))
                    .serde_info(
                        SerDeInfo::builder()
                            .serialization_library("org.openx.data.jsonserde.JsonSerDe")
                            .parameters("ignore.malformed.json", "true")
                            .parameters("mapping.ts", "eventTime")
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        glue.create_table()
            .database_name("default")
            .table_input(events)
            .send()
            .await
            .unwrap();
        let trail = TableInput::builder()
            .name("trail")
            .parameters("classification", "cloudtrail")
            .storage_descriptor(
                StorageDescriptor::builder()
                    .columns(column("eventname", "string"))
                    .columns(column("requestparameters", "string"))
                    .location(format!("{root}/trail/"))
                    .input_format("com.amazon.emr.cloudtrail.CloudTrailInputFormat")
                    .serde_info(
                        SerDeInfo::builder()
                            .serialization_library("org.apache.hive.hcatalog.data.JsonSerDe")
                            .build(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        glue.create_table()
            .database_name("default")
            .table_input(trail)
            .send()
            .await
            .unwrap();
        let t = glue
            .get_table()
            .database_name("default")
            .name("events")
            .send()
            .await
            .unwrap();
        let params = t
            .table()
            .and_then(|t| t.storage_descriptor())
            .and_then(|sd| sd.serde_info())
            .and_then(|s| s.parameters())
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            params.get("mapping.ts").map(String::as_str),
            Some("eventTime")
        );
        assert_eq!(
            params.get("ignore.malformed.json").map(String::as_str),
            Some("true")
        );
        let t = glue
            .get_table()
            .database_name("default")
            .name("trail")
            .send()
            .await
            .unwrap();
        let sd = t.table().unwrap().storage_descriptor().unwrap();
        assert_eq!(
            sd.input_format(),
            Some("com.amazon.emr.cloudtrail.CloudTrailInputFormat")
        );
        let athena = server.athena();
        let (id, _) = run(
            &athena,
            "SELECT count(*), count(id), sum(id), max(ts) FROM default.events",
        )
        .await;
        assert_eq!(
            rows(&athena, &id, 10).await[1],
            vec![
                Some("3".into()),
                Some("2".into()),
                Some("3".into()),
                Some("t2".into())
            ]
        );
        let (id, _) = run(
            &athena,
            "SELECT eventname, requestparameters FROM default.trail ORDER BY 1",
        )
        .await;
        assert_eq!(
            rows(&athena, &id, 10).await[1..],
            [
                vec![
                    Some("GetObject".into()),
                    Some("{\"bucketName\": \"b\"}".into())
                ],
                vec![Some("PutObject".into()), None]
            ]
        );
    });
}
