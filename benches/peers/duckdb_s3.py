"""DuckDB reading S3 through httpfs, as a worker of peers.py's `s3` suite.

It runs in its own venv (target/bench-venv-httpfs): DuckDB's httpfs extension is not built into the Python
wheel and DuckDB fetches it from extensions.duckdb.org, which this machine cannot reach; PyPI has it as
`duckdb-extension-httpfs` only up to DuckDB 1.5.5, so this worker is DuckDB 1.5.5 with that extension, loaded
from its file. peers.py starts it with the S3 settings and the tables, then sends one JSON object a line:

  {"op": "time", "sql": ..., "runs": N}  ->  {"ms": best of N after one warm-up, "rows": [...]}
  {"op": "cold", "sql": ...}             ->  {"ms": ...} (one run on a fresh connection: the request count)

Each answer is one JSON line; a failed query answers {"error": "..."}.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import normalize  # noqa: E402  (the same spelling of values as the other engines)

import duckdb  # noqa: E402
import duckdb_extension_httpfs  # noqa: E402

CFG = json.loads(sys.argv[1])


def extension_file():
    root = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    return next(root.glob("*/httpfs.duckdb_extension"))


def connect():
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension_file()}'")
    con.execute(f"SET threads = {CFG['threads']}")
    # Every run reads S3 as owl's does: no cache of remote data between queries.
    con.execute("SET enable_external_file_cache = false")
    endpoint = CFG["endpoint"].removeprefix("http://")
    con.execute(
        "CREATE SECRET s3bench (TYPE s3, KEY_ID ?, SECRET ?, REGION 'us-east-1', ENDPOINT ?, "
        "URL_STYLE 'path', USE_SSL false)".replace("?", "'{}'").format(CFG["key"], CFG["secret"], endpoint)
    )
    for t, url, keys in CFG["tables"]:
        files = f"{url}/**/*.parquet" if keys else f"{url}/*.parquet"
        hive = ", hive_partitioning = true" if keys else ""
        cols = f"* EXCLUDE ({', '.join(keys)}), {', '.join(keys)}" if keys else "*"
        con.execute(f"CREATE VIEW {t} AS SELECT {cols} FROM read_parquet('{files}'{hive})")
    return con


def best_ms(run, times):
    best = None
    for _ in range(times):
        t = time.perf_counter()
        run()
        ms = (time.perf_counter() - t) * 1000
        best = ms if best is None else min(best, ms)
    return best


def main():
    con = connect()
    print(json.dumps({"ready": duckdb.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        sql = req["sql"].strip().rstrip(";")
        try:
            if req["op"] == "cold":
                fresh = connect()
                t = time.perf_counter()
                fresh.execute(sql).fetchall()
                out = {"ms": (time.perf_counter() - t) * 1000}
                fresh.close()
            else:
                rows = con.execute(sql).fetchall()
                ms = best_ms(lambda: con.execute(sql).fetchall(), req["runs"])
                out = {"ms": ms, "rows": [[normalize(v) for v in r] for r in rows]}
        except Exception as e:  # a peer's failure is data, not a crash
            out = {"error": str(e).splitlines()[0]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
