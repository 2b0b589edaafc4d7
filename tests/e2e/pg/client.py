"""psycopg against `tollgate serve --pg-listen` (driven by tests/e2e/pg.rs).

Usage: client.py HOST PORT ANALYST_TOKEN VIEWER_TOKEN FINANCE_TOKEN MEMORY_QUERY
Prints one JSON object with what each check saw; the Rust test compares
it with `tollgate sql`.
"""

import json
import sys
import threading

import psycopg

host, port, analyst, viewer, finance, memory_query = sys.argv[1:7]


def conninfo(token, sslmode="require"):
    return psycopg.conninfo.make_conninfo(
        host=host,
        port=port,
        user="analyst",
        dbname="tollgate",
        password=token,
        sslmode=sslmode,
        connect_timeout=30,
    )


def error_of(f):
    try:
        f()
        return {"ok": True}
    except psycopg.Error as e:
        return {"sqlstate": e.sqlstate, "message": str(e)}


out = {}
with psycopg.connect(conninfo(analyst)) as conn:
    out["tls"] = bool(conn.pgconn.ssl_in_use)
    out["server_version"] = conn.info.server_version
    cur = conn.cursor()
    # Simple protocol (no parameters): one of docs/SQL.md's examples.
    cur.execute(
        "SELECT consumer, count(*) AS calls FROM events WHERE consumer IS NOT NULL GROUP BY consumer ORDER BY calls DESC, consumer"
    )
    out["columns"] = [d.name for d in cur.description]
    out["per_consumer"] = [[r[0], r[1]] for r in cur.fetchall()]
    cur.execute(
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY reason"
    )
    out["quarantine"] = [[r[0], r[1]] for r in cur.fetchall()]
    # Types: a timestamp, a decimal, a float come back as Python values.
    cur.execute(
        "SELECT min(ts) AS first, max(latency_ms) AS slowest, sum(amount) AS money, count(*) FILTER (WHERE status >= 500) AS errors FROM events"
    )
    first, slowest, money, errors = cur.fetchone()
    out["types"] = [type(first).__name__, type(slowest).__name__, type(errors).__name__]
    out["first"] = first.strftime("%Y-%m-%dT%H:%M:%S")
    out["errors_5xx"] = errors
    # What Grafana's and Metabase's Postgres data sources ask first: the
    # tables (information_schema), then a time series (Grafana's
    # $__timeGroup(ts, 1h) expands to this).
    cur.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
    )
    out["tables"] = [r[0] for r in cur.fetchall()]
    cur.execute(
        'SELECT floor(extract(epoch from ts) / 3600) * 3600 AS "time", count(*) AS calls '
        "FROM events GROUP BY 1 ORDER BY 1"
    )
    series = cur.fetchall()
    out["series_points"] = len(series)
    out["series_calls"] = sum(r[1] for r in series)
    out["series_ordered"] = all(a[0] < b[0] for a, b in zip(series, series[1:]))
    # Extended protocol: a prepared statement with parameters, run twice.
    top = out["per_consumer"][0][0]
    q = "SELECT count(*) AS n FROM events WHERE consumer = %s AND status >= %s"
    cur.execute(q, (top, 400), prepare=True)
    out["prepared_4xx"] = cur.fetchone()[0]
    cur.execute(q, (top, 500), prepare=True)
    out["prepared_5xx"] = cur.fetchone()[0]
    out["prepared_consumer"] = top
    conn.rollback()

    refusals = {}
    for name, sql in [
        ("drop", "DROP TABLE events"),
        ("copy", "COPY (SELECT 1) TO '/tmp/tollgate-pg-copy.csv'"),
        ("insert", "INSERT INTO events (consumer) VALUES ('x')"),
        ("create", "CREATE TABLE t AS SELECT 1"),
        ("set_limit", None),
        ("memory", memory_query),
    ]:
        if sql is None:
            # A session setting cannot lift a limit: SET is acknowledged
            # and ignored, so the memory query after it still fails.
            cur.execute("SET datafusion.runtime.memory_limit = '100G'")
            continue
        refusals[name] = error_of(lambda: cur.execute(sql))
        conn.rollback()
    out["refusals"] = refusals

out["viewer"] = error_of(lambda: psycopg.connect(conninfo(viewer)).close())
out["finance"] = error_of(lambda: psycopg.connect(conninfo(finance)).close())
out["wrong"] = error_of(lambda: psycopg.connect(conninfo("not-a-token-at-all-0000")).close())

# Twenty connections at once, each asking for one consumer's count.
consumers = [c for c, _ in out["per_consumer"]]
answers = {}
failures = []


def one(i):
    consumer = consumers[i % len(consumers)]
    try:
        with psycopg.connect(conninfo(analyst), autocommit=True) as c:
            n = c.execute(
                "SELECT count(*) FROM events WHERE consumer = %s", (consumer,)
            ).fetchone()[0]
            answers[i] = [consumer, n]
    except Exception as e:  # noqa: BLE001 - reported to the test
        failures.append(f"{i}: {e}")


threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out["concurrent"] = [answers[i] for i in sorted(answers)]
out["concurrent_failures"] = failures
print(json.dumps(out))
