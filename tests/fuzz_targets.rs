//! The fuzz targets (`owl::fuzz`, run under libFuzzer from `fuzz/`) on every test run: each over its seed corpus
//! (`fuzz/corpus/<target>/`) and seeded mutations of it. A finding panics in the target; the test names the
//! input that made it, to add to the corpus once fixed.

mod common;

use common::*;
use std::path::Path;

/// Mutations a target gets per run (`OWL_FUZZ_MUTATIONS` for more): a few seconds each in a debug build.
fn budget(target: &str) -> usize {
    if let Some(n) = std::env::var("OWL_FUZZ_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return n;
    }
    match target {
        // Each input is decoded in ~100 ways (cut at every byte, four batch sizes): fewer of them.
        "csv_fast_path" | "ndjson_fast_path" => 150,
        _ => 2000,
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Runs `target` on each input; the inputs it panicked on.
fn findings(target: fn(&[u8]), inputs: &[Vec<u8>]) -> Vec<String> {
    let mut found = Vec::new();
    for input in inputs {
        if std::panic::catch_unwind(|| target(input)).is_err() {
            found.push(format!("{:?}", String::from_utf8_lossy(input)));
        }
    }
    found
}

#[test]
fn every_target_has_a_seed_corpus_and_a_libfuzzer_entry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (name, _) in owl::fuzz::TARGETS {
        assert!(!corpus(name).is_empty(), "no seeds for {name}");
        let entry = std::fs::read_to_string(root.join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz_targets/{name}.rs: {e}"));
        assert!(
            entry.contains(&format!("owl::fuzz::{name}(")),
            "fuzz_targets/{name}.rs calls owl::fuzz::{name}"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has a [[bin]] {name}"
        );
    }
}

#[test]
fn targets_pass_their_seeds_and_seeded_mutations_of_them() {
    let seed: u64 = std::env::var("OWL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261206);
    let mut report = Vec::new();
    for (name, target) in owl::fuzz::TARGETS {
        let seeds = corpus(name);
        let mut found = findings(target, &seeds);
        found.extend(findings(
            target,
            &owl::fuzz::mutations(&seeds, seed, budget(name)),
        ));
        if !found.is_empty() {
            report.push(format!(
                "{name}: {} inputs, first: {}",
                found.len(),
                found[..found.len().min(3)].join(", ")
            ));
        }
    }
    assert!(report.is_empty(), "seed {seed}:\n{}", report.join("\n"));
}

#[test]
fn mutations_are_seeded_and_change_their_inputs() {
    let seeds = vec![b"a,b\n1,2\n".to_vec(), b"{\"a\":1}\n".to_vec()];
    let a = owl::fuzz::mutations(&seeds, 7, 200);
    assert_eq!(a, owl::fuzz::mutations(&seeds, 7, 200));
    assert_ne!(a, owl::fuzz::mutations(&seeds, 8, 200));
    let changed = a.iter().filter(|m| !seeds.contains(m)).count();
    assert!(changed > 150, "{changed} of 200 changed");
}

/// Found by `ndjson_fast_path`: a last line without a line break that the fast path handed to arrow-json,
/// with no rows of the fast path's before it in the batch, was never fed to arrow-json: its rows were lost,
/// or its error (a truncated record) became an answer of no rows. In CSV too (a quote inside a field).
#[test]
fn a_last_line_without_a_line_break_left_to_the_fallback_is_read() {
    let f = Fixture::new();
    let write = |folder: &str, text: &str| {
        let dir = f.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-0"), text).unwrap();
        dir.display().to_string()
    };
    let dup = write("dup", r#"{"a":3,"a":4,"b":"w"}"#);
    let cut = write("cut", r#"{"a":3,"b":"#);
    let quote = write("quote", "7,a\"b");
    // A batch's worth of lines the fast path reads, then one it hands on: at a batch boundary.
    let mut lines: String = (0..8192)
        .map(|i| format!("{{\"a\":{i},\"b\":\"x\"}}\n"))
        .collect();
    lines.push_str(r#"{"a":-1,"a":-2,"b":"y"}"#);
    let edge = write("edge", &lines);
    let mut ddl = String::new();
    for (t, loc) in [("dup", &dup), ("cut", &cut), ("edge", &edge)] {
        ddl += &format!(
            "CREATE EXTERNAL TABLE {t} (a bigint, b string) \
             ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION '{loc}';"
        );
    }
    ddl += &format!(
        "CREATE EXTERNAL TABLE quote (a bigint, b string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' \
         LOCATION '{quote}';"
    );
    f.run_ok(&["query", &ddl]);
    for fast in ["true", "false"] {
        let set = format!("SET owl.ndjson_fast_path = {fast}; SET owl.csv_fast_path = {fast};");
        let rows = f.csv_in("default", &format!("{set} SELECT a, b FROM dup"));
        assert_eq!(rows, "a,b\n4,w\n", "fast path {fast}");
        let rows = f.csv_in("default", &format!("{set} SELECT a, b FROM quote"));
        assert_eq!(rows, "a,b\n7,\"a\"\"b\"\n", "fast path {fast}");
        let rows = f.csv_in(
            "default",
            &format!("{set} SELECT count(*), min(a), sum(a) FROM edge"),
        );
        assert_eq!(
            rows.lines().nth(1),
            Some(format!("8193,-2,{}", 8191 * 8192 / 2 - 2).as_str()),
            "fast path {fast}"
        );
    }
    f.fails_naming("SELECT * FROM cut", "Truncated record");
}
