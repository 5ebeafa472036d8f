//! The text functions through the real `owl` binary: `tokenize`, `ngrams`, `hashing_tf` and the `tf_idf` table
//! function, each against an independent oracle: scikit-learn's `TfidfVectorizer` and `CountVectorizer` (PyPI,
//! in the tests' venv) for TF-IDF with every formula, and `mmh3` (an independent MurmurHash3) for Spark's
//! `HashingTF` buckets. Bytes scanned are checked against the files' sizes.

mod common;
#[path = "common/serve.rs"]
mod serve;

use common::{Fixture, column_names, json_rows, stat};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;

/// The rows of `sql` as JSON values.
fn rows(f: &Fixture, sql: &str) -> Vec<Vec<Value>> {
    json_rows(&f.json(sql))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tokenize_and_ngrams_as_spark_and_lucene_give_them() {
    let f = Fixture::new();
    let r = rows(
        &f,
        "SELECT tokenize('The naïve café''s 3.14 (Ünïcode), can''t-stop!'), \
         tokenize('The runners were running to the finishing lines', 'stop_words=english, stem=english'), \
         tokenize('The Cat sat', 'lower=false stop_words=en'), tokenize('a bb ccc', 'min_length=2'), \
         ngrams(tokenize('to be or not to be'), 2), ngrams(tokenize('one two'), 3), \
         ngrams(tokenize('one two'), 1), tokenize(CAST(NULL AS VARCHAR)) IS NULL, tokenize('')",
    );
    let r = &r[0];
    assert_eq!(
        strings(&r[0]),
        ["the", "naïve", "café's", "3.14", "ünïcode", "can't", "stop"]
    );
    assert_eq!(strings(&r[1]), ["runner", "run", "finish", "line"]);
    assert_eq!(strings(&r[2]), ["Cat", "sat"]);
    assert_eq!(strings(&r[3]), ["bb", "ccc"]);
    assert_eq!(
        strings(&r[4]),
        ["to be", "be or", "or not", "not to", "to be"]
    );
    // Spark's NGram: fewer tokens than n give no n-gram.
    assert!(strings(&r[5]).is_empty());
    assert_eq!(strings(&r[6]), ["one", "two"]);
    assert_eq!(r[7], json!(true));
    assert!(strings(&r[8]).is_empty());
    // A column of a table, row by row, NULL text a NULL list.
    let r = rows(
        &f,
        "SELECT doc_id, cardinality(tokenize(body)) FROM docs ORDER BY doc_id LIMIT 2",
    );
    assert_eq!(r[0], [json!(1), json!(27)]);
    for (sql, says) in [
        (
            "SELECT tokenize('x', 'stem=klingon')",
            "no stemmer for `klingon`",
        ),
        (
            "SELECT tokenize('x', 'colour=red')",
            "unknown option `colour`",
        ),
        (
            "SELECT tokenize(body, title) FROM docs",
            "must be a constant",
        ),
        ("SELECT ngrams(tokenize('a b'), 0)", "n is at least 1"),
        ("SELECT ngrams('a b', 2)", "takes a list of terms"),
        (
            "SELECT hashing_tf(tokenize('a'), 0)",
            "the number of buckets",
        ),
    ] {
        f.fails_naming(sql, says);
    }
}

/// The venv's Python running `script` with `input` on stdin; its stdout as JSON.
fn python(script: &str, input: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new(serve::python_venv())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn hashing_tf_buckets_are_sparks_murmur3_as_mmh3_computes_it() {
    let f = Fixture::new();
    let terms = [
        "a",
        "b",
        "spark",
        "hashing",
        "über",
        "naïve",
        "日本語",
        "x y",
        "",
        "emoji🦉",
        "longer term here",
    ];
    let list = terms
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    for buckets in [1000, 262144, 7] {
        // One term a row: its single bucket.
        let sql = format!(
            "SELECT t, map_keys(hashing_tf(make_array(t), {buckets}))[1] FROM unnest(make_array({list})) AS u(t)"
        );
        let owl: BTreeMap<String, i64> = rows(&f, &sql)
            .into_iter()
            .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
            .collect();
        // Spark: Utils.nonNegativeMod(murmur3_x86_32(utf8, seed 42), buckets); Python's % is non-negative.
        let expected = python(
            "import json, sys, mmh3\nb, terms = json.load(sys.stdin)\n\
             print(json.dumps({t: mmh3.hash(t.encode('utf-8'), 42, signed=True) % b for t in terms}))",
            &json!([buckets, terms]).to_string(),
        );
        for t in terms {
            assert_eq!(owl[t], expected[t].as_i64().unwrap(), "{t} in {buckets}");
        }
    }
    // Counts per bucket, or 1 when binary; the default is Spark's 2^18 buckets.
    let r = rows(
        &f,
        "SELECT hashing_tf(make_array('a', 'b', 'a'), 1000)[map_keys(hashing_tf(make_array('a'), 1000))[1]], \
         hashing_tf(make_array('a', 'b', 'a'), 1000, true)[map_keys(hashing_tf(make_array('a'), 1000))[1]], \
         map_keys(hashing_tf(make_array('a')))[1] = map_keys(hashing_tf(make_array('a'), 262144))[1], \
         cardinality(hashing_tf(make_array('a', 'b', 'a'), 1000))",
    );
    assert_eq!(r[0], [json!(2.0), json!(1.0), json!(true), json!(2)]);
}

/// A corpus of `n` documents: words from a vocabulary with capitals, accents and punctuation around them.
fn corpus(n: usize) -> Vec<String> {
    let vocab = [
        "lake",
        "Parquet",
        "query",
        "bytes",
        "scan",
        "über",
        "naïve",
        "crawler",
        "table",
        "Glue",
        "Athena",
        "partition",
        "day",
        "log",
        "s3",
        "café",
        "forest",
        "score",
        "x1",
        "metric",
        "stream",
        "record",
    ];
    let mut seed = 7u64;
    let mut next = move |m: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % m
    };
    (0..n)
        .map(|_| {
            let words = 1 + next(12);
            let mut s = String::new();
            for i in 0..words {
                // Skewed choice: early words are common, late ones rare.
                let top = next(vocab.len()) + 1;
                let w = vocab[next(top)];
                s.push_str(w);
                let sep = if i % 3 == 0 { next(7) } else { 0 };
                s.push_str([" ", ", ", ". ", "! ", " (", ") ", "; "][sep]);
            }
            s
        })
        .collect()
}

#[test]
fn tf_idf_equals_scikit_learns_tfidf_vectorizer_with_each_formula_and_norm() {
    let f = Fixture::new();
    let docs = corpus(300);
    let mut csv = String::from("id,body\n");
    for (i, d) in docs.iter().enumerate() {
        csv.push_str(&format!("{},\"{}\"\n", i + 1, d.replace('"', "\"\"")));
    }
    std::fs::create_dir_all(f.path().join("lake/corpus")).unwrap();
    std::fs::write(f.path().join("lake/corpus/corpus.csv"), &csv).unwrap();
    f.run_ok(&["crawl", "lake/corpus"]);
    // scikit-learn tokenizes with its own pattern: words of word characters, lower-cased (the corpus has no
    // apostrophes or decimals, where it and Unicode's word boundaries differ).
    let oracle = python(
        r#"
import json, sys, math
from sklearn.feature_extraction.text import TfidfVectorizer, CountVectorizer
docs = json.load(sys.stdin)
out = {}
for name, kw in [("smooth", dict(smooth_idf=True)), ("plain", dict(smooth_idf=False))]:
    for norm in [None, "l2"]:
        v = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", norm=norm, **kw)
        m = v.fit_transform(docs).tocoo()
        terms = v.get_feature_names_out()
        out[f"{name}/{norm or 'none'}"] = {f"{r + 1}|{terms[c]}": float(x) for r, c, x in zip(m.row, m.col, m.data)}
# Spark MLlib's IDF from scikit-learn's counts: ln((m + 1) / (df + 1)), 0 below minDocFreq.
c = CountVectorizer(token_pattern=r"(?u)\b\w+\b")
counts = c.fit_transform(docs).tocoo()
terms = c.get_feature_names_out()
df = {}
for r, col in zip(counts.row, counts.col):
    df[col] = df.get(col, 0) + 1
n = len(docs)
for min_df in [0, 20]:
    out[f"spark/{min_df}"] = {
        f"{r + 1}|{terms[col]}": float(x) * (math.log((n + 1) / (df[col] + 1)) if df[col] >= min_df else 0.0)
        for r, col, x in zip(counts.row, counts.col, counts.data)}
out["tf"] = {f"{r + 1}|{terms[col]}": int(x) for r, col, x in zip(counts.row, counts.col, counts.data)}
out["df"] = {terms[col]: d for col, d in df.items()}
print(json.dumps(out))
"#,
        &json!(docs).to_string(),
    );
    let check = |options: &str, key: &str| {
        let sql = format!("SELECT id, term, tf, df, tf_idf FROM tf_idf(TABLE corpus{options})");
        let got = rows(&f, &sql);
        let want = oracle[key].as_object().unwrap();
        assert_eq!(got.len(), want.len(), "{key}: (document, term) pairs");
        for r in &got {
            let k = format!("{}|{}", r[0], r[1].as_str().unwrap());
            let w = want
                .get(&k)
                .unwrap_or_else(|| panic!("{key}: {k} not in scikit-learn's"))
                .as_f64()
                .unwrap();
            let v = r[4].as_f64().unwrap();
            assert!(
                (v - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{key} {k}: owl {v}, scikit-learn {w}"
            );
            assert_eq!(r[2], oracle["tf"][&k], "tf of {k}");
            assert_eq!(r[3], oracle["df"][r[1].as_str().unwrap()], "df of {k}");
        }
    };
    check(", formula => 'smooth'", "smooth/none");
    check(", formula => 'smooth', norm => 'l2'", "smooth/l2");
    check(", formula => 'plain'", "plain/none");
    check(", formula => 'plain', norm => 'l2'", "plain/l2");
    check("", "spark/0");
    check(", min_doc_freq => 20", "spark/20");
    // Two reads of the file: the terms, and the number of documents (a CSV table's rows are counted by reading
    // them), whether the input is the table or a query of it.
    for input in ["corpus", "(SELECT * FROM corpus WHERE id > 0)"] {
        let doc = f.json(&format!("SELECT sum(tf_idf) FROM tf_idf(TABLE {input})"));
        assert_eq!(stat(&doc, "bytes_scanned"), 2 * csv.len() as u64, "{input}");
    }
}

#[test]
fn the_table_argument_is_a_name_a_path_a_query_or_a_cte_and_bad_ones_are_named() {
    let f = Fixture::new();
    let want = rows(
        &f,
        "SELECT * FROM tf_idf(TABLE (SELECT doc_id, body FROM docs)) ORDER BY doc_id, term",
    );
    assert!(want.len() > 100, "{}", want.len());
    for table in [
        "TABLE (SELECT doc_id, body FROM docs)",
        "(SELECT doc_id, body FROM docs)",
        "TABLE docs, id => 'doc_id', text => 'body'",
        "TABLE(docs), text => 'body', id => 'doc_id'",
        "docs, id => 'DOC_ID', text => 'body'",
        "TABLE default.docs, id => 'doc_id', text => 'body'",
        "TABLE 'sample-data/docs/', id => 'doc_id', text => 'body'",
        "TABLE d",
    ] {
        let sql = format!(
            "WITH d AS (SELECT doc_id, body FROM docs) SELECT * FROM tf_idf({table}) AS t ORDER BY t.doc_id, t.term"
        );
        assert_eq!(rows(&f, &sql), want, "{table}");
    }
    // A list of terms is taken as it is: bigrams as terms.
    let r = rows(
        &f,
        "SELECT term, df FROM tf_idf(TABLE (SELECT doc_id, ngrams(tokenize(body), 2) FROM docs)) \
         WHERE term = 'row groups' LIMIT 1",
    );
    assert_eq!(r, [[json!("row groups"), json!(1)]]);
    // A document with NULL text counts as a document with no terms (m = 3, df = 1: ln(4/2)).
    let r = rows(
        &f,
        "SELECT term, idf FROM tf_idf(TABLE (SELECT * FROM (VALUES (1, 'a b'), (2, NULL), (3, 'c')) AS v(id, body))) WHERE term = 'a'",
    );
    assert_eq!(r[0][1].as_f64().unwrap(), (4.0f64 / 2.0).ln());
    // The output's id column keeps its name unless a tf_idf column has it.
    let doc = f.json("SELECT * FROM tf_idf(TABLE (SELECT doc_id AS term, body FROM docs)) LIMIT 1");
    assert_eq!(
        column_names(&doc),
        ["document", "term", "tf", "df", "idf", "tf_idf"]
    );
    for (sql, says) in [
        (
            "SELECT * FROM tf_idf(TABLE docs)",
            "the table has 3 columns (`doc_id`, `title`, `body`)",
        ),
        (
            "SELECT * FROM tf_idf(TABLE docs, id => 'nope', text => 'body')",
            "no column `nope` for `id`",
        ),
        (
            "SELECT * FROM tf_idf(TABLE docs, id => 'doc_id', text => 'doc_id')",
            "the text column `doc_id` is Int64",
        ),
        (
            "SELECT * FROM tf_idf(1)",
            "its first argument is a table, not `1`",
        ),
        (
            "SELECT * FROM tf_idf(TABLE docs, colour => 'red')",
            "unknown option `colour`",
        ),
        (
            "SELECT * FROM tf_idf(TABLE (SELECT doc_id, body FROM docs), norm => 'l1')",
            "`norm` is none or l2",
        ),
        (
            "SELECT * FROM tf_idf(TABLE (SELECT doc_id, body FROM docs), formula => 'bm25')",
            "`formula` is spark, smooth or plain",
        ),
        (
            "SELECT * FROM tf_idf(TABLE (SELECT doc_id, body FROM docs), stem => 'klingon')",
            "no stemmer for `klingon`",
        ),
        (
            "SELECT * FROM tf_idf(TABLE (SELECT doc_id, body FROM docs), min_doc_freq => -1)",
            "`min_doc_freq` is a whole number",
        ),
        (
            "SELECT * FROM tf_idf(TABLE (SELECT doc_id, body FROM docs), norm => body)",
            "`norm` is a constant",
        ),
        ("SELECT * FROM tf_idf()", "tf_idf reads a table"),
    ] {
        f.fails_naming(sql, says);
    }
    let (code, err) = f.fails("SELECT * FROM tf_idf(TABLE nope)");
    assert_eq!(code, 1);
    assert!(err.contains("table `default.nope` does not exist"), "{err}");
}

#[test]
fn a_search_over_the_sample_documents_ranks_the_ones_about_the_query() {
    let f = Fixture::new();
    // The README's example.
    let search = "WITH q AS (SELECT DISTINCT unnest(tokenize('partition the logs by day', 'stop_words=english, stem=english')) AS term) \
         SELECT d.title, sum(w.tf_idf) AS score \
         FROM tf_idf(TABLE (SELECT doc_id, body FROM docs), stop_words => 'english', stem => 'english', norm => 'l2') AS w \
         JOIN q ON w.term = q.term JOIN docs AS d ON d.doc_id = w.doc_id \
         GROUP BY d.title ORDER BY score DESC LIMIT 2";
    let r = rows(&f, search);
    let titles: Vec<&str> = r.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(titles, ["Querying logs in S3", "Partition projection"]);
    // Three reads of the documents: their terms, their number, their titles.
    let doc = f.json(search);
    let size = std::fs::metadata(f.data("docs/docs.json")).unwrap().len();
    assert_eq!(stat(&doc, "bytes_scanned"), 3 * size);
}
