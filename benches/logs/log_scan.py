"""RegexSerDe and Grok against grep and DuckDB on the same lines: `cargo bench --bench log_scan`.

Generates ~1 GB (`--mb`) of load balancer log lines (ALB's field layout, deterministic) into one plain file, then
counts the lines AWS's ALB pattern matches, three ways, on the same file and the same machine:
  owl     a table declared with AWS's DDL (`ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'`),
          `SELECT count(type) FROM alb` (a line that does not match is a row of NULLs, so this counts matches;
          every line is matched and its groups captured), through the release binary, its engine time from the
          JSON stats and its wall time; and the same fields through the Grok SerDe (`%{IP:client_ip}`, ...);
  grep    `LC_ALL=C grep -E -c '^pattern$' file` (GNU grep, one thread), wall time (in a UTF-8 locale GNU grep
          falls back to its backtracking matcher on this pattern: 159 s here, once);
  duckdb  `SELECT count(*) FROM read_csv(file, one VARCHAR column) WHERE regexp_full_match(line, pattern)`
          (a match only), and `count(NULLIF(regexp_extract(line, '^(?:pattern)$', 1), ''))` (the first group
          captured, as owl's query needs), wall time of the query in-process.
Each runs once to warm the page cache, then `--runs` times; the minimum counts. The three counts must agree (and
equal the generator's). Prints a Markdown table; `--write` replaces the generated block in BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import subprocess
import time

# AWS's ALB pattern, cut to the fields the generator writes (the DDL's literal has `\"` for each quote).
PATTERN = (
    r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) '
    r'(|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) "([^ ]*) (.*) (- |[^ ]*)" "([^"]*)" ([-A-Z0-9_]+) ([A-Za-z0-9.-]*)'
)
# The same line as a grok pattern (Logstash's standard patterns), anchored as the regex is.
GROK = (
    r'^%{NOTSPACE:type} %{TIMESTAMP_ISO8601:time} %{NOTSPACE:elb} %{IP:client_ip}:%{INT:client_port} '
    r'%{IP:target_ip}:%{INT:target_port} %{NUMBER:request_processing_time} %{NUMBER:target_processing_time} '
    r'%{NUMBER:response_processing_time} %{INT:elb_status_code} %{NOTSPACE:target_status_code} '
    r'%{INT:received_bytes} %{INT:sent_bytes} "%{WORD:request_verb} %{NOTSPACE:request_url} '
    r'%{NOTSPACE:request_proto}" "%{DATA:user_agent}" %{NOTSPACE:ssl_cipher} %{NOTSPACE:ssl_protocol}$'
)
COLUMNS = (
    "type string, time string, elb string, client_ip string, client_port int, target_ip string, "
    "target_port int, request_processing_time double, target_processing_time double, "
    "response_processing_time double, elb_status_code int, target_status_code string, received_bytes bigint, "
    "sent_bytes bigint, request_verb string, request_url string, request_proto string, user_agent string, "
    "ssl_cipher string, ssl_protocol string"
)


def generate(path, mb):
    want = mb * 1_000_000
    agents = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", "curl/8.4.0", "aws-sdk-go/1.44.0 (go1.21)"]
    matched = 0
    lines = 0
    with open(path, "w") as f:
        n = 0
        size = 0
        while size < want:
            chunk = []
            for _ in range(10000):
                n += 1
                lines += 1
                if n % 1000 == 7:
                    line = "garbage line that is not a log record\n"
                else:
                    matched += 1
                    line = (
                        f"https 2024-06-01T{n // 3600 % 24:02}:{n // 60 % 60:02}:{n % 60:02}.{n % 999999:06}Z "
                        f"app/my-loadbalancer/50dc6c495c0c9188 10.{n % 7}.{n % 251}.{n % 13}:{2000 + n % 60000} "
                        f"10.0.{n % 5}.{n % 97}:80 0.00{n % 9} 0.0{n % 97:02} 0.000 "
                        f"{(200, 200, 404, 500, 301)[n % 5]} {(200, 200, 404, 500, 301)[n % 5]} {n % 900} {n % 65536} "
                        f"\"GET https://example.com:443/p/{n % 10007}/item?id={n} HTTP/1.1\" \"{agents[n % 3]}\" "
                        f"ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2\n"
                    )
                chunk.append(line)
            text = "".join(chunk)
            f.write(text)
            size += len(text)
    return lines, matched


def best(runs, fn):
    fn()
    times = []
    out = None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--owl", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--mb", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    os.makedirs(os.path.join(a.data, "alb"), exist_ok=True)
    log = os.path.join(a.data, "alb", "alb.log")
    meta = os.path.join(a.data, "lines.json")
    if not (os.path.exists(log) and os.path.exists(meta) and json.load(open(meta))["mb"] == a.mb):
        lines, matched = generate(log, a.mb)
        json.dump({"mb": a.mb, "lines": lines, "matched": matched}, open(meta, "w"))
    info = json.load(open(meta))
    size = os.path.getsize(log)

    # owl: a registry beside the data.
    ddl_pattern = PATTERN.replace('"', '\\"')
    ddl = (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS alb ({COLUMNS}) "
        "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe' "
        f"WITH SERDEPROPERTIES ('input.regex' = '{ddl_pattern}') LOCATION 'alb/'"
    )
    subprocess.run([a.owl, "query", ddl], cwd=a.data, check=True, capture_output=True)
    # The same fields through the Grok SerDe, written with the standard patterns.
    grok_ddl = (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS alb_grok ({COLUMNS}) "
        "ROW FORMAT SERDE 'com.amazonaws.glue.serde.GrokSerDe' "
        f"WITH SERDEPROPERTIES ('input.format' = '{GROK}') LOCATION 'alb/'"
    )
    subprocess.run([a.owl, "query", grok_ddl], cwd=a.data, check=True, capture_output=True)
    owl_engine = []

    def owl():
        out = subprocess.run(
            [a.owl, "query", "-f", "json", "SELECT count(type) FROM alb"],
            cwd=a.data, check=True, capture_output=True, text=True,
        ).stdout
        doc = json.loads(out)
        owl_engine.append(doc["stats"]["elapsed_ms"])
        return doc["rows"][0][0]

    def owl_grok():
        out = subprocess.run(
            [a.owl, "query", "-f", "json", "SELECT count(type) FROM alb_grok"],
            cwd=a.data, check=True, capture_output=True, text=True,
        ).stdout
        return json.loads(out)["rows"][0][0]

    def grep():
        out = subprocess.run(
            ["grep", "-E", "-c", f"^{PATTERN}$", log],
            check=False, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"},
        ).stdout
        return int(out.strip())

    import duckdb

    con = duckdb.connect()
    escaped = PATTERN.replace("'", "''")

    lines = (
        f"read_csv('{log}', columns = {{'line': 'VARCHAR'}}, header = false, delim = '\\x1f', quote = '', "
        "escape = '', auto_detect = false)"
    )

    def duck():
        sql = f"SELECT count(*) FROM {lines} WHERE regexp_full_match(line, '{escaped}')"
        return con.execute(sql).fetchone()[0]

    def duck_extract():
        sql = f"SELECT count(NULLIF(regexp_extract(line, '^(?:{escaped})$', 1), '')) FROM {lines}"
        return con.execute(sql).fetchone()[0]

    results = {}
    for name, fn in [
        ("owl", owl),
        ("owl Grok SerDe", owl_grok),
        ("LC_ALL=C grep -E -c", grep),
        ("DuckDB regexp_full_match", duck),
        ("DuckDB regexp_extract group 1", duck_extract),
    ]:
        t, count = best(a.runs, fn)
        results[name] = (t, count)
        print(f"{name}: {t:.2f} s, {count} lines matched", flush=True)
    for name, (_, count) in results.items():
        assert count == info["matched"], f"{name} counted {count}, the generator wrote {info['matched']}"
    grep_t = results["LC_ALL=C grep -E -c"][0]
    rows = [
        "| engine | time (s) | MB/s | vs grep |",
        "|---|---:|---:|---:|",
    ]
    for name, (t, _) in results.items():
        rows.append(f"| {name} | {t:.2f} | {size / 1e6 / t:.0f} | {t / grep_t:.2f}x |")
    table = "\n".join(rows)
    header = (
        f"{size / 1e6:.0f} MB of ALB log lines ({info['lines']:,} lines, {info['matched']:,} matching AWS's pattern), "
        f"one plain file, page cache warm, best of {a.runs}; {os.cpu_count()} cores."
    )
    header += f" owl's own engine time (`elapsed_ms`, without process start): {min(owl_engine) / 1000:.2f} s."
    print(header)
    print(table)
    if a.write:
        path = os.path.join(os.path.dirname(__file__), "..", "..", "BENCHMARKS.md")
        text = open(path).read()
        begin, end = "<!-- log_scan:begin -->", "<!-- log_scan:end -->"
        block = f"{begin}\n{header}\n\n{table}\n{end}"
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
        open(path, "w").write(text)


if __name__ == "__main__":
    main()
