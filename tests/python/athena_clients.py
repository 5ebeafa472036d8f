"""boto3, PyAthena's cursor and its pandas cursor against a real `owl serve` (run by tests/serve_python.rs).

Every number is checked against a count made here from the data files themselves, with Python's csv module.
Exits non-zero (an AssertionError) on the first difference.
"""
import csv
import glob
import os
import time

import boto3
from botocore.exceptions import ClientError
from pyathena import connect
from pyathena.pandas.cursor import PandasCursor

ENDPOINT = os.environ["OWL_ENDPOINT"]
KEY = os.environ["OWL_KEY"]
SECRET = os.environ["OWL_SECRET"]
DATA = os.environ["OWL_DATA"]
STAGING = os.environ["OWL_STAGING"]  # s3://bucket/prefix/ for the pandas cursor


def day_rows(day):
    rows = []
    for path in sorted(glob.glob(f"{DATA}/weblogs_csv/year=*/month=*/day={day:02d}/*.csv")):
        with open(path, newline="") as f:
            rows.extend(csv.DictReader(f))
    assert rows, f"no sample rows for day {day}"
    return rows


def expected_by_status(day):
    out = {}
    for r in day_rows(day):
        s = int(r["status"])
        hits, total = out.get(s, (0, 0))
        out[s] = (hits + 1, total + int(r["bytes"]))
    return out


SQL = ("SELECT status, count(*) AS hits, sum(bytes) AS total FROM weblogs_csv "
       "WHERE day = {day} GROUP BY status ORDER BY status")


def check_boto3():
    athena = boto3.client("athena", endpoint_url=ENDPOINT, region_name="us-east-1",
                          aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    qid = athena.start_query_execution(
        QueryString=SQL.format(day=2),
        QueryExecutionContext={"Database": "default"},
    )["QueryExecutionId"]
    while True:
        e = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if e["Status"]["State"] not in ("QUEUED", "RUNNING"):
            break
        time.sleep(0.01)
    assert e["Status"]["State"] == "SUCCEEDED", e
    scanned = e["Statistics"]["DataScannedInBytes"]
    files = glob.glob(f"{DATA}/weblogs_csv/year=*/month=*/day=02/*.csv")
    assert scanned == sum(os.path.getsize(p) for p in files), (scanned, files)
    pages = athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=qid, PaginationConfig={"PageSize": 2})
    rows = [[d.get("VarCharValue") for d in r["Data"]] for p in pages for r in p["ResultSet"]["Rows"]]
    assert rows[0] == ["status", "hits", "total"], rows[0]
    got = {int(s): (int(h), int(t)) for s, h, t in rows[1:]}
    assert got == expected_by_status(2), (got, expected_by_status(2))
    # Errors as botocore knows them.
    try:
        athena.get_query_execution(QueryExecutionId="00000000-0000-4000-8000-000000000000")
        raise AssertionError("an unknown id was found")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidRequestException", err.response
    try:
        athena.start_query_execution(QueryString="SELECT 1", WorkGroup="nope")
        raise AssertionError("an unknown work group ran a query")
    except ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidRequestException", err.response
    # A client request token makes a retry idempotent.
    token = "owl-python-test-token-0123456789abcdef"
    a = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token)
    b = athena.start_query_execution(QueryString="SELECT 1", ClientRequestToken=token)
    assert a["QueryExecutionId"] == b["QueryExecutionId"]
    print("boto3: ok")


def check_pyathena():
    conn = connect(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=KEY,
                   aws_secret_access_key=SECRET, s3_staging_dir=STAGING, schema_name="default",
                   poll_interval=0.01)
    cur = conn.cursor()
    # PyAthena's pyformat parameters, and Athena's own `?` with execution parameters.
    cur.execute("SELECT status, count(*) AS hits, sum(bytes) AS total FROM weblogs_csv "
                "WHERE day = %(day)d GROUP BY status ORDER BY status", {"day": 3})
    assert [d[0] for d in cur.description] == ["status", "hits", "total"]
    got = {s: (h, t) for s, h, t in cur.fetchall()}
    assert got == expected_by_status(3), got
    assert cur.data_scanned_in_bytes > 0
    cur.execute("SELECT count(*) FROM weblogs_csv WHERE day = ?", ["4"], paramstyle="qmark")
    assert cur.fetchone()[0] == len(day_rows(4))
    # The pandas cursor reads the result file from S3, as it does from Athena's.
    pcur = conn.cursor(PandasCursor)
    df = pcur.execute(SQL.format(day=5)).as_pandas()
    got = {int(r.status): (int(r.hits), int(r.total)) for r in df.itertuples()}
    assert got == expected_by_status(5), got
    assert str(df["hits"].dtype) == "Int64" or str(df["hits"].dtype).startswith("int"), df.dtypes
    print("pyathena: ok")


check_boto3()
check_pyathena()
