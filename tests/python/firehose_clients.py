"""boto3's Firehose client against `owl serve` (tests/ingest.rs drives it).

    firehose_clients.py create STREAM DATABASE TABLE     create the stream, check the API's errors and shapes
    firehose_clients.py put STREAM FIRST COUNT ACKED      put records FIRST..FIRST+COUNT in batches of 500,
                                                          appending each acknowledged record's id to ACKED;
                                                          stops at the first failed call (the server killed)
    firehose_clients.py delete STREAM                     delete the stream (its buffer is delivered first)

Record n is `{"id": n, "name": "r<n>", "amount": n / 4}`, except that every 997th has an id that is not a number
(it goes to the error prefix).
"""

import json
import os
import sys
import time

import boto3
import botocore.exceptions
from botocore.config import Config


def client(key=None, secret=None):
    return boto3.client(
        "firehose",
        endpoint_url=os.environ["OWL_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id=key or os.environ["OWL_KEY"],
        aws_secret_access_key=secret or os.environ["OWL_SECRET"],
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
    )


def record(n):
    if n % 997 == 0:
        return {"id": "x%d" % n, "name": "bad%d" % n}
    return {"id": n, "name": "r%d" % n, "amount": n / 4}


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call did not fail")


def destination(database, table, **more):
    d = {
        "RoleARN": "arn:aws:iam::000000000000:role/firehose",
        "BucketARN": "arn:aws:s3:::local",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60},
        "DataFormatConversionConfiguration": {
            "Enabled": True,
            "SchemaConfiguration": {"DatabaseName": database, "TableName": table,
                                    "RoleARN": "arn:aws:iam::000000000000:role/firehose"},
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {"Serializer": {"ParquetSerDe": {"Compression": "ZSTD"}}},
        },
    }
    d.update(more)
    return d


def create(stream, database, table):
    fh = client()
    arn = fh.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination(database, table),
    )["DeliveryStreamARN"]
    assert arn.endswith(":deliverystream/" + stream), arn
    # The API's refusals, with Firehose's codes.
    assert error_code(lambda: fh.create_delivery_stream(
        DeliveryStreamName=stream,
        ExtendedS3DestinationConfiguration=destination(database, table))) == "ResourceInUseException"
    assert error_code(lambda: fh.create_delivery_stream(
        DeliveryStreamName=stream + "-csv",
        ExtendedS3DestinationConfiguration=destination(database, "csv_table"))) == "InvalidArgumentException"
    assert error_code(lambda: fh.create_delivery_stream(
        DeliveryStreamName=stream + "-big",
        ExtendedS3DestinationConfiguration=destination(
            database, table, BufferingHints={"SizeInMBs": 129, "IntervalInSeconds": 60}))) == "InvalidArgumentException"
    assert error_code(lambda: fh.create_delivery_stream(
        DeliveryStreamName=stream + "-escape",
        ExtendedS3DestinationConfiguration=destination(database, table, Prefix="../../etc/"))) == "InvalidArgumentException"
    assert error_code(lambda: fh.create_delivery_stream(
        DeliveryStreamName=stream + "-visible-errors",
        ExtendedS3DestinationConfiguration=destination(database, table, ErrorOutputPrefix="errors/"))) == "InvalidArgumentException"
    assert error_code(lambda: fh.put_record(
        DeliveryStreamName="nope", Record={"Data": b"{}"})) == "ResourceNotFoundException"
    assert error_code(lambda: fh.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": b"{}"}] * 501)) == "InvalidArgumentException"
    assert error_code(lambda: fh.put_record(
        DeliveryStreamName=stream, Record={"Data": b"x" * (1000 * 1024 + 1)})) == "InvalidArgumentException"
    # A credential for Athena only may not use Firehose.
    narrow = client(os.environ["OWL_NARROW_KEY"], os.environ["OWL_NARROW_SECRET"])
    assert error_code(lambda: narrow.list_delivery_streams()) == "AccessDeniedException"
    # A wrong secret is refused before anything runs.
    assert error_code(lambda: client(os.environ["OWL_KEY"], "wrong").list_delivery_streams()) in (
        "InvalidSignatureException", "SignatureDoesNotMatch", "UnrecognizedClientException")
    d = fh.describe_delivery_stream(DeliveryStreamName=stream)["DeliveryStreamDescription"]
    assert d["DeliveryStreamStatus"] == "ACTIVE", d
    assert d["DeliveryStreamARN"] == arn
    s3 = d["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert s3["BufferingHints"] == {"SizeInMBs": 1, "IntervalInSeconds": 60}, s3
    conv = s3["DataFormatConversionConfiguration"]
    assert conv["SchemaConfiguration"]["TableName"] == table, conv
    assert conv["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["Compression"] == "ZSTD", conv
    names = fh.list_delivery_streams()["DeliveryStreamNames"]
    assert names == [stream], names
    print("create: ok")


def put(stream, first, count, acked_path):
    fh = client()
    sent = 0
    with open(acked_path, "a") as acked:
        n = first
        end = first + count
        while n < end:
            ids = list(range(n, min(n + 500, end)))
            records = [{"Data": (json.dumps(record(i)) + "\n").encode()} for i in ids]
            try:
                if len(ids) == 1:
                    r = fh.put_record(DeliveryStreamName=stream, Record=records[0])
                    responses = [{"RecordId": r["RecordId"]}]
                else:
                    r = fh.put_record_batch(DeliveryStreamName=stream, Records=records)
                    responses = r["RequestResponses"]
                    assert r["FailedPutCount"] == sum(1 for x in responses if "ErrorCode" in x), r
            except (botocore.exceptions.HTTPClientError,
                    botocore.exceptions.ConnectionError) as e:
                print("put: stopped at %d (%s)" % (n, type(e).__name__))
                break
            assert len(responses) == len(ids)
            for i, resp in zip(ids, responses):
                if "RecordId" in resp:
                    acked.write("%d\n" % i)
            acked.flush()
            os.fsync(acked.fileno())
            sent += len(ids)
            n += len(ids)
    print("put: %d sent" % sent)


def delete(stream):
    fh = client()
    fh.delete_delivery_stream(DeliveryStreamName=stream)
    assert error_code(lambda: fh.describe_delivery_stream(DeliveryStreamName=stream)) == "ResourceNotFoundException"
    print("delete: ok")


def delete_refused(stream):
    """A delete that cannot deliver the stream's last records is refused, and the stream is still there."""
    fh = client()
    try:
        fh.delete_delivery_stream(DeliveryStreamName=stream)
        raise AssertionError("the delete of a stream with undeliverable records succeeded")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ResourceInUseException", e.response
        message = e.response["Error"]["Message"]
        assert "cannot deliver" in message and "\n" not in message, message
    d = fh.describe_delivery_stream(DeliveryStreamName=stream)["DeliveryStreamDescription"]
    assert d["DeliveryStreamStatus"] == "ACTIVE", d
    print("delete refused: ok")


def refused(stream, code, says):
    """A put and a delete that this server refuses with `code`, its message naming `says`."""
    fh = client()
    for call in (lambda: fh.put_record(DeliveryStreamName=stream, Record={"Data": b'{"id": 1}\n'}),
                 lambda: fh.delete_delivery_stream(DeliveryStreamName=stream)):
        try:
            call()
            raise AssertionError("not refused")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == code, e.response
            assert says in e.response["Error"]["Message"], e.response
        code = "ResourceInUseException"
    print("refused: ok")


def delete_eventually(stream, seconds):
    """Delete once the stream has delivered what it holds (its retries run on a backoff)."""
    fh = client()
    deadline = time.time() + float(seconds)
    while True:
        try:
            fh.delete_delivery_stream(DeliveryStreamName=stream)
            break
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceInUseException", e.response
            assert time.time() < deadline, "still refused after %s s: %s" % (seconds, e.response)
            time.sleep(1)
    assert error_code(lambda: fh.describe_delivery_stream(DeliveryStreamName=stream)) == "ResourceNotFoundException"
    print("delete: ok")


if __name__ == "__main__":
    op = sys.argv[1]
    if op == "create":
        create(*sys.argv[2:5])
    elif op == "put":
        put(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif op == "delete":
        delete(sys.argv[2])
    elif op == "delete_refused":
        delete_refused(sys.argv[2])
    elif op == "refused":
        refused(sys.argv[2], sys.argv[3], sys.argv[4])
    elif op == "delete_eventually":
        delete_eventually(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("unknown operation " + op)
