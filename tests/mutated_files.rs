//! Mutated files through `owl crawl` and `owl query`: real files of every format owl reads (Parquet, ORC, Avro,
//! CSV, gzipped CSV, NDJSON, CloudTrail JSON, gzipped ALB logs) with bytes flipped, cut short, their magic
//! numbers broken, huge lengths written where footers and blocks declare sizes, and gzip bombs (a line of
//! hundreds of MB that compresses to a few). Each is crawled and queried, by its table and by its path, in a
//! process capped at 4 GB of address space and 60 s: never a panic, an abort, a hang or the memory running out;
//! a failure is one error line that names the file.
//!
//! `OWL_FUZZ_SEED` and `OWL_FUZZ_ROUNDS` (mutations per file, default 12) make a longer run:
//! `OWL_FUZZ_ROUNDS=500 cargo test --release --test mutated_files -- --nocapture`.

mod common;

use common::{Fixture, walk};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// xorshift64*: reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One way of breaking a file.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> (String, Vec<u8>) {
    let mut b = bytes.to_vec();
    let len = b.len();
    match rng.below(6) {
        0 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(len);
                b[at] ^= 1 + rng.below(255) as u8;
            }
            (format!("{n} bytes flipped"), b)
        }
        1 => {
            let keep = rng.below(len);
            b.truncate(keep);
            (format!("cut to {keep} of {len} bytes"), b)
        }
        2 => {
            let tail = rng.below(2) == 0;
            let at = if tail { len.saturating_sub(4) } else { 0 };
            for x in &mut b[at..(at + 4).min(len)] {
                *x = rng.below(256) as u8;
            }
            (
                format!("magic at the {} broken", if tail { "end" } else { "start" }),
                b,
            )
        }
        3 => {
            // A declared length: Parquet's footer length (before the last 4 bytes), ORC's postscript length
            // (the last byte) and the varints and words near either end of a file.
            let huge: [&[u8]; 4] = [
                &[0xff, 0xff, 0xff, 0x7f],
                &[0xff, 0xff, 0xff, 0xff],
                &[0xff, 0xff, 0xff, 0xff, 0x0f],
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ];
            let value = huge[rng.below(huge.len())];
            let near = 64.min(len);
            let at = match rng.below(3) {
                0 => len.saturating_sub(8),
                1 => len - near + rng.below(near),
                _ => rng.below(near),
            };
            for (i, v) in value.iter().enumerate() {
                if let Some(x) = b.get_mut(at + i) {
                    *x = *v;
                }
            }
            (format!("huge length at byte {at}"), b)
        }
        4 => {
            // A run of bytes overwritten in the middle (a torn write).
            let at = rng.below(len);
            let n = 1 + rng.below(4096);
            let fill = rng.below(256) as u8;
            for x in b.iter_mut().skip(at).take(n) {
                *x = fill;
            }
            (format!("{n} bytes at {at} set to {fill}"), b)
        }
        _ => {
            // Another file's bytes spliced in.
            let at = rng.below(len);
            let junk: Vec<u8> = (0..1 + rng.below(512)).map(|_| rng.next() as u8).collect();
            b.splice(at..at, junk.iter().copied());
            (format!("{} random bytes inserted at {at}", junk.len()), b)
        }
    }
}

/// `owl args` in `dir`, capped at 4 GB of address space and 60 s. Returns (exit code, stderr).
fn owl(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin!("owl"))
        .args(["--memory-limit", "1GB"])
        .args(args)
        .current_dir(dir)
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_DATABASE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!(
                "`owl {}` in {} ran past 60 s",
                args.join(" "),
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let code = status.code().unwrap_or_else(|| {
        panic!(
            "`owl {}` in {} was killed by a signal ({status}): {err}",
            args.join(" "),
            dir.display()
        )
    });
    (code, err)
}

/// What a run may end as: success, or a failure of the user's input that names `file` in one error line
/// (and perhaps a hint).
fn check(what: &str, file: &str, (code, err): (i32, String)) -> bool {
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: a panic: {err}"
    );
    assert!(code == 0 || code == 1, "{what}: exit {code}: {err}");
    if code == 1 {
        let lines: Vec<&str> = err.trim().lines().collect();
        assert!(
            lines[0].starts_with("error: ") && lines.len() <= 2,
            "{what}: not one error line: {err}"
        );
        // A file that reads but holds a value no writer can print (a timestamp past year 262142) fails the
        // output, naming the row and column: the data is valid Parquet, so no reader failed.
        let unprintable = lines[0].starts_with("error: the results cannot be written: ");
        assert!(
            lines[0].contains(file) || unprintable,
            "{what}: the error does not name `{file}`: {err}"
        );
    }
    code == 0
}

/// A crawl may end in success or, when no file could be used, a failure; either way a file it skipped is named,
/// with why, and nothing panics.
fn check_crawl(what: &str, file: &str, (code, err): (i32, String)) {
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: a panic: {err}"
    );
    assert!(code == 0 || code == 1, "{what}: exit {code}: {err}");
    if err.contains("skipped") || code == 1 {
        assert!(
            err.contains(file),
            "{what}: the report does not name `{file}`: {err}"
        );
    }
    if code == 1 {
        let errors = err.lines().filter(|l| l.starts_with("error: ")).count();
        assert_eq!(errors, 1, "{what}: {err}");
    }
}

/// The real files mutated, by their path under the lake.
fn seeds(f: &Fixture) -> Vec<(String, Vec<u8>)> {
    f.run_ok(&["convert", "weblogs_csv", "--to", "orc", "--no-partitions"]);
    f.run_ok(&["convert", "weblogs_csv", "--to", "avro", "--no-partitions"]);
    let found = |under: &str, ext: &str| -> PathBuf {
        walk(&f.path().join(under))
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(ext))
            .unwrap_or_else(|| panic!("no {ext} under {under}"))
    };
    let files = [
        (
            "t/part.parquet",
            found("sample-data/weblogs_parquet", ".parquet"),
        ),
        ("t/part.orc", found("warehouse", ".orc")),
        ("t/part.avro", found("warehouse", ".avro")),
        ("t/orders.csv", found("sample-data/orders", ".csv")),
        (
            "t/part.csv.gz",
            found("sample-data/weblogs_csv_gz", ".csv.gz"),
        ),
        ("t/part.json", found("sample-data/weblogs_ndjson", ".json")),
        ("t/events.json", found("sample-data/cloudtrail", ".json")),
    ];
    let mut out: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(to, from)| (to.to_string(), std::fs::read(from).unwrap()))
        .collect();
    // ALB logs keep their AWSLogs path: the crawler knows them by it.
    let alb = found(
        "sample-data/aws",
        "elasticloadbalancing_us-east-1_app.shop-lb.50dc6c495c0c9188_20240601T0000Z_198.51.100.7_2x4k9d1e.log.gz",
    );
    let rel = alb
        .strip_prefix(f.path().join("sample-data"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    out.push((rel, std::fs::read(alb).unwrap()));
    out
}

/// Crawl `lake/` of `dir` and query what it registered and the file by its path.
fn crawl_and_query(dir: &Path, rel: &str, what: &str) {
    let name = Path::new(rel)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    check_crawl(
        &format!("{what}: crawl"),
        &name,
        owl(dir, &["crawl", "lake"]),
    );
    let catalog = dir.join("catalog");
    if catalog.join("default").is_dir() {
        for t in walk(&catalog.join("default")) {
            let table = t.file_stem().unwrap().to_string_lossy().into_owned();
            if table.starts_with('.') {
                continue;
            }
            let sql = format!("SELECT * FROM {table}");
            check(
                &format!("{what}: {sql}"),
                &name,
                owl(dir, &["query", "-f", "csv", &sql]),
            );
        }
    }
    let sql = format!("SELECT * FROM 'lake/{rel}'");
    check(
        &format!("{what}: {sql}"),
        &name,
        owl(dir, &["query", "-f", "csv", &sql]),
    );
}

#[test]
fn mutated_files_fail_with_one_line_naming_the_file_and_never_crash() {
    let f = Fixture::new();
    let seed: u64 = std::env::var("OWL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261206);
    let rounds: usize = std::env::var("OWL_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    eprintln!("OWL_FUZZ_SEED={seed} OWL_FUZZ_ROUNDS={rounds}");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let work = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for (rel, bytes) in seeds(&f) {
        for round in 0..rounds {
            let (how, mutated) = mutate(&mut rng, &bytes);
            let dir = work.path().join(format!("case-{cases}"));
            let file = dir.join("lake").join(&rel);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &mutated).unwrap();
            crawl_and_query(&dir, &rel, &format!("{rel}, round {round}: {how}"));
            std::fs::remove_dir_all(&dir).unwrap();
            cases += 1;
        }
    }
    eprintln!("{cases} mutated files crawled and queried");
}

/// A gzip member holding `lines`, then `size` bytes with no line break.
fn bomb(head: &[u8], size: usize) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(head).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..size >> 20 {
        gz.write_all(&chunk).unwrap();
    }
    gz.write_all(b"\n").unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_gzip_bomb_fails_at_the_row_size_limit_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    for (rel, head) in [
        ("t/b.csv.gz", &b"id,name\n1,x\n2,"[..]),
        ("t/b.json.gz", &b"{\"id\": 1}\n{\"id\": 2, \"name\": \""[..]),
    ] {
        let dir = work.path().join(rel.replace(['/', '.'], "_"));
        let file = dir.join("lake").join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        // 300 MB of one line in well under 1 MB.
        std::fs::write(&file, bomb(head, 300 << 20)).unwrap();
        assert!(std::fs::metadata(&file).unwrap().len() < 2 << 20);
        let (code, err) = owl(&dir, &["crawl", "lake"]);
        assert_eq!(code, 0, "{err}");
        // The table reads through owl's line decoder, which stops at Athena's row limit.
        let sql = "SELECT count(*) FROM lake";
        let (code, err) = owl(&dir, &["query", sql]);
        assert_eq!(code, 1, "{sql}: {err}");
        assert!(!check(sql, "b.", (code, err.clone())));
        assert!(err.contains("a line longer than 32 MiB"), "{sql}: {err}");
        // So do its folder and the file itself named in FROM.
        for sql in [
            "SELECT count(*) FROM 'lake/t/'".to_string(),
            format!("SELECT count(*) FROM 'lake/{rel}'"),
        ] {
            let (code, err) = owl(&dir, &["query", &sql]);
            assert_eq!(code, 1, "{sql}: {err}");
            assert!(err.contains("a line longer than 32 MiB"), "{sql}: {err}");
            assert!(err.contains("b."), "{sql}: names the file: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{sql}: one line: {err}");
        }
    }
}

#[test]
fn a_querys_own_error_over_one_file_is_not_blamed_on_the_file() {
    let f = Fixture::new();
    let file = "sample-data/orders/2024/01/orders.csv";
    for (sql, says) in [
        (
            format!("SELECT 1 / (order_id - order_id) FROM '{file}'"),
            "Divide by zero",
        ),
        (
            format!("SELECT CAST(customer AS INT) FROM '{file}'"),
            "Cannot cast string",
        ),
    ] {
        let (code, err) = owl(f.path(), &["query", &sql]);
        assert_eq!(code, 1, "{sql}: {err}");
        assert!(err.contains(says), "{sql}: {err}");
        assert!(
            !err.contains("orders.csv"),
            "{sql}: blamed on the file: {err}"
        );
    }
}
