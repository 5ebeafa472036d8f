#!/usr/bin/env python3
"""A/B of owl against itself: two builds, or one build with two sets of `SET` statements, on the TPC-H or web-log queries.

    python3 benches/peers/ab.py 'target/release/owl:SET owl.decimal_batch_checks = false' \
        'target/release/owl:SET owl.decimal_batch_checks = true' --queries 1,3,10 --runs 6 --db tpch_parquet

Each side is `EXECUTABLE:STATEMENTS` (statements separated by `;`, run before the query; may be empty). Per
query the sides take turns; each runs the query once to warm up and then `--runs` times in one `owl run`
(2 threads), the best engine time counting. Prints both times, bytes scanned, peak memory (GNU time), the
ratio (10 ms + B) / (10 ms + A), whether the answers are the same rows, and the geomean. Uses the registry
the peers runner (`cargo bench --bench peers`) builds under target/peers/tpch-sf1; `--suite weblogs` runs
benches/weblogs/ on the registry under target/peers/weblogs (database `weblogs`).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(exe, sets, sql, runs, db, catalog):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        body = sql.strip().rstrip(";")
        stmts = [s for s in sets.split(";") if s.strip()]
        (tmp / "q.sql").write_text(";\n".join(stmts + [body] * (1 + runs)) + ";\n")
        env = dict(os.environ, OWL_THREADS="2")
        p = subprocess.run(
            ["/usr/bin/time", "-o", str(tmp / "rss"), "-f", "%M", exe, "--catalog", str(catalog), "-d", db,
             "run", str(tmp / "q.sql"), "--report", str(tmp / "r.json"), "--output", str(tmp / "out")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        if p.returncode:
            return None, p.stderr.strip().splitlines()[-1:]
        report = json.loads((tmp / "r.json").read_text())["statements"][len(stmts):]
        rss = int((tmp / "rss").read_text().split()[-1]) // 1024
        out = (tmp / "out" / f"{report[0]['query_id']}.csv").read_text()
        best = min(s["elapsed_ms"] for s in report[1:])
        return (best, report[0]["bytes_scanned"], rss, out), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="EXECUTABLE:STATEMENTS")
    ap.add_argument("b", help="EXECUTABLE:STATEMENTS")
    ap.add_argument("--suite", default="tpch", choices=["tpch", "weblogs"])
    ap.add_argument("--queries", default="", help="e.g. 1,3,10 (default: all of the suite's)")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--db", default=None, help="tpch_parquet (default), tpch_csv or tpch_ndjson; weblogs")
    ap.add_argument("--catalog", default=None)
    args = ap.parse_args()
    a, b = args.a.split(":", 1), args.b.split(":", 1)
    web = args.suite == "weblogs"
    letter, count = ("w", 7) if web else ("q", 22)
    db = args.db or ("weblogs" if web else "tpch_parquet")
    catalog = args.catalog or ROOT / ("target/peers/weblogs/catalog" if web else "target/peers/tpch-sf1/catalog")
    queries = [int(x) for x in args.queries.split(",")] if args.queries else range(1, count + 1)
    ratios = []
    for q in queries:
        sql = (ROOT / "benches" / args.suite / f"{letter}{q:02d}.sql").read_text()
        ra, ea = run(a[0], a[1], sql, args.runs, db, catalog)
        rb, eb = run(b[0], b[1], sql, args.runs, db, catalog)
        if ra is None or rb is None:
            print(f"{letter}{q:02d} error A={ea} B={eb}")
            continue
        same = "same" if sorted(ra[3].splitlines()) == sorted(rb[3].splitlines()) else "DIFF"
        ratio = (10 + rb[0]) / (10 + ra[0])
        ratios.append(ratio)
        print(f"{letter}{q:02d} A {ra[0]:7.1f} ms {ra[1] / 1e6:7.1f} MB {ra[2]:5d} MiB | "
              f"B {rb[0]:7.1f} ms {rb[1] / 1e6:7.1f} MB {rb[2]:5d} MiB | B/A {ratio:.3f} {same}", flush=True)
    if ratios:
        print(f"geomean B/A {math.exp(sum(map(math.log, ratios)) / len(ratios)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
