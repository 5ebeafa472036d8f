"""TF-IDF of a corpus: owl's `tf_idf` table function against scikit-learn's `TfidfVectorizer`:
`cargo bench --bench text_features`.

Generates `--docs` documents (default 100,000; words drawn from a 20,000-word Zipf vocabulary, 20 to 80 words a
document, capitals and punctuation around them; deterministic) into one Parquet file, then computes every
(document, term) tf-idf weight two ways on the same machine:
  owl           `SELECT count(*), sum(tf_idf) FROM tf_idf(TABLE docs, formula => 'smooth')` through the release
                binary over the crawled Parquet table: wall time of the process (its start, the read, the
                tokenizing and the SQL) and its engine time (`elapsed_ms`), with 2 threads and with 1;
  scikit-learn  the Parquet file read with pyarrow, then `TfidfVectorizer(token_pattern=r"(?u)\\b\\w+\\b",
                norm=None).fit_transform(docs)` (smooth idf, its default; one thread, as it runs), then the sum of
                the matrix: wall time of the read and the fit.
Both compute the same weights: owl's row count must equal the matrix's non-zeros and the sums agree to 1e-9
(relative). Each runs once to warm the page cache, then `--runs` times; the minimum counts. Prints a Markdown
table; `--write` replaces the generated block in BENCHMARKS.md.
"""

import argparse
import json
import os
import random
import re
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq


def generate(path, n):
    rng = random.Random(36)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = set()
    while len(vocab) < 20_000:
        vocab.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    vocab = sorted(vocab)
    weights = [1.0 / (k + 1) for k in range(len(vocab))]
    seps = [" ", " ", " ", ", ", ". ", "; ", " (", ") "]
    docs = []
    for _ in range(n):
        words = rng.choices(vocab, weights, k=rng.randint(20, 80))
        parts = []
        for w in words:
            parts.append(w.capitalize() if rng.random() < 0.1 else w)
            parts.append(rng.choice(seps))
        docs.append("".join(parts))
    table = pa.table({"doc_id": pa.array(range(1, n + 1), pa.int64()), "body": pa.array(docs, pa.string())})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def best(runs, f):
    f()
    return min((f() for _ in range(runs)), key=lambda r: r[0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--owl", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    data = os.path.abspath(a.data)
    docs_path = os.path.join(data, "docs", "docs.parquet")
    if not os.path.exists(docs_path) or pq.read_metadata(docs_path).num_rows != a.docs:
        generate(docs_path, a.docs)
    catalog = os.path.join(data, "catalog")
    subprocess.run([a.owl, "--catalog", catalog, "crawl", os.path.join(data, "docs")], check=True,
                   capture_output=True)
    sql = "SELECT count(*) AS n, sum(tf_idf) AS s FROM tf_idf(TABLE docs, formula => 'smooth')"

    def owl(threads):
        def run():
            t = time.perf_counter()
            out = subprocess.run([a.owl, "--catalog", catalog, "--threads", str(threads), "query", "-f", "json", sql],
                                 check=True, capture_output=True)
            wall = time.perf_counter() - t
            doc = json.loads(out.stdout)
            n, s = doc["rows"][0]
            return wall, doc["stats"]["elapsed_ms"] / 1000.0, int(n), float(s)
        return run

    def sklearn():
        from sklearn.feature_extraction.text import TfidfVectorizer
        t = time.perf_counter()
        docs = pq.read_table(docs_path, columns=["body"]).column("body").to_pylist()
        m = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", norm=None).fit_transform(docs)
        s = float(m.sum())
        return time.perf_counter() - t, None, int(m.nnz), s

    rows = [("owl, 2 threads", best(a.runs, owl(2))), ("owl, 1 thread", best(a.runs, owl(1))),
            ("scikit-learn 1.9.1", best(a.runs, sklearn))]
    n, s = rows[-1][1][2], rows[-1][1][3]
    for name, r in rows:
        assert r[2] == n, f"{name}: {r[2]} (document, term) pairs, scikit-learn {n}"
        assert abs(r[3] - s) <= 1e-9 * abs(s), f"{name}: sum {r[3]}, scikit-learn {s}"
    base = rows[-1][1][0]
    size = os.path.getsize(docs_path)
    header = (f"{a.docs:,} documents ({size / 1e6:.0f} MB of Parquet, {n:,} (document, term) pairs), page cache "
              f"warm, best of {a.runs}; {os.cpu_count()} cores. Every engine's pairs and sum of weights agree.")
    table = "| engine | wall (s) | engine time (s) | vs scikit-learn |\n|---|---:|---:|---:|\n" + "\n".join(
        f"| {name} | {r[0]:.2f} | {'' if r[1] is None else f'{r[1]:.2f}'} | {r[0] / base:.2f}x |"
        for name, r in rows)
    print(header + "\n\n" + table)
    if a.write:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "BENCHMARKS.md")
        text = open(path).read()
        begin, end = "<!-- tf_idf:begin -->", "<!-- tf_idf:end -->"
        block = f"{begin}\n{header}\n\n{table}\n{end}"
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
        open(path, "w").write(text)


if __name__ == "__main__":
    main()
