"""ADBC's Flight SQL driver (through the driver manager's DB-API) against `owl serve --flight`.

Prints the result of $OWL_SQL as CSV lines (header first) for the Rust test to compare with `owl query`'s, and
`# ...` lines with what else it checked. Exits non-zero on any failed check.
"""
import os
import sys

import adbc_driver_flightsql.dbapi as flight
import adbc_driver_manager
import pyarrow as pa

uri = os.environ["OWL_FLIGHT"]
key, secret = os.environ["OWL_KEY"], os.environ["OWL_SECRET"]
# grpc+tls://: the server's certificate is the one root trusted.
tls = {}
if os.environ.get("OWL_TLS_ROOTS"):
    with open(os.environ["OWL_TLS_ROOTS"]) as f:
        tls["adbc.flight.sql.client_option.tls_root_certs"] = f.read()

# A wrong password is refused.
try:
    flight.connect(uri, db_kwargs={"username": key, "password": "wrong", **tls}).cursor().execute("SELECT 1")
    sys.exit("a wrong password was accepted")
except adbc_driver_manager.Error as e:
    print(f"# refused: {type(e).__name__}")

conn = flight.connect(uri, db_kwargs={"username": key, "password": secret, **tls})
cur = conn.cursor()
cur.execute(os.environ["OWL_SQL"])
table = cur.fetch_arrow_table()
assert isinstance(table, pa.Table)


def text(v):
    return "" if v is None else str(v)


print(",".join(table.column_names))
for row in table.to_pylist():
    print(",".join(text(row[c]) for c in table.column_names))
print("# types: " + ",".join(str(t) for t in table.schema.types))

# A bound parameter (`?`), through a prepared statement.
cur.execute("SELECT count(*) AS n FROM orders WHERE quantity > ?", parameters=(2,))
n = cur.fetchone()[0]
cur.execute("SELECT count(*) AS n FROM orders")
total = cur.fetchone()[0]
assert 0 < n <= total, (n, total)
print(f"# bound: {n} of {total}")

# The catalog, as ADBC asks for it.
objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
tables = [
    t["table_name"]
    for c in objects
    for s in c["catalog_db_schemas"] or []
    for t in s["db_schema_tables"] or []
]
assert "orders" in tables, tables
print(f"# tables: {len(tables)}")
cur.close()
conn.close()
