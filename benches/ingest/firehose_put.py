"""boto3 PutRecordBatch throughput and PutRecord-to-queryable latency against `owl serve` (benches/ingest.rs).

    firehose_put.py ENDPOINT RECORDS_FILE THREADS

Prints one JSON line: {"records", "bytes", "seconds", "latency_s", "latency_records"}.
"""

import concurrent.futures
import json
import sys
import time

import boto3
from botocore.config import Config

endpoint, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])


def client(service):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench",
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=threads + 2))


def create(fh, name, size_mb):
    fh.create_delivery_stream(DeliveryStreamName=name, ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::000000000000:role/bench", "BucketARN": "arn:aws:s3:::local",
        "BufferingHints": {"SizeInMBs": size_mb, "IntervalInSeconds": 60},
        "DataFormatConversionConfiguration": {
            "SchemaConfiguration": {"DatabaseName": "default", "TableName": "events"},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}}})


def count(athena):
    qid = athena.start_query_execution(QueryString="SELECT count(*) FROM events")["QueryExecutionId"]
    while True:
        s = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]
        if s == "SUCCEEDED":
            rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
            return int(rows[1]["Data"][0]["VarCharValue"])
        assert s in ("QUEUED", "RUNNING"), s
        time.sleep(0.005)


lines = [l.rstrip(b"\n") for l in open(path, "rb")]
batches = [lines[i:i + 500] for i in range(0, len(lines), 500)]
fh = client("firehose")
athena = client("athena")
create(fh, "bench", 128)
clients = [client("firehose") for _ in range(threads)]


def put(i):
    r = clients[i % threads].put_record_batch(
        DeliveryStreamName="bench", Records=[{"Data": l + b"\n"} for l in batches[i]])
    assert r["FailedPutCount"] == 0


t = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    list(pool.map(put, range(len(batches))))
seconds = time.perf_counter() - t
fh.delete_delivery_stream(DeliveryStreamName="bench")  # delivers the buffer
before = count(athena)
assert before == len(lines), (before, len(lines))

# Latency: a 1 MiB buffer put in one burst, then polled with Athena's API until every record is counted.
create(fh, "latency", 1)
burst, size = [], 0
for l in lines:
    if size + len(l) + 1 > (1 << 20):
        break
    burst.append(l)
    size += len(l) + 1
t0 = time.perf_counter()
for i in range(0, len(burst), 500):
    fh.put_record_batch(DeliveryStreamName="latency", Records=[{"Data": l + b"\n"} for l in burst[i:i + 500]])
# The buffer is delivered when it holds 1 MiB: one more record fills it.
fh.put_record(DeliveryStreamName="latency", Record={"Data": lines[len(burst)] + b"\n"})
while count(athena) < before + len(burst) + 1:
    pass
latency = time.perf_counter() - t0
print(json.dumps({"records": len(lines), "bytes": sum(len(l) + 1 for l in lines), "seconds": seconds,
                  "latency_s": latency, "latency_records": len(burst) + 1}))
