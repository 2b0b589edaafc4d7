#!/usr/bin/env bash
# Query benchmark (issue 4): the dashboard query set on Tollgate and on
# DuckDB over the same Parquet files, in the same run.
#
#  1. Lake: `tollgate simulate` (canonical JSON; 1,000 consumers, the 30
#     days of June 2024, sorted by time as gateways write) compressed with
#     zstd, then `tollgate import`. `import -` would spool standard input to
#     an uncompressed temporary file (~22 GB for 50M events); zstd keeps
#     the spool at a tenth of that. The lake is reused when present.
#  2. `tollgate rollup` (hourly pre-aggregates).
#  3. Five dashboard queries, identical SQL on both engines, each hot:
#       tollgate sql --repeat 3: in-process, the fastest of 3 runs after a
#         warm-up run (the lake opened once);
#       tollgate sql as a process: the fastest of 3 wall times, which adds
#         process start and lake opening (listing and planning) per query;
#       DuckDB from PyPI, `SET threads = 2`, read_parquet(hive_partitioning)
#         over the same files, one connection: warm-up, then fastest of 3,
#         each result fetched as an Arrow table (as Tollgate collects Arrow
#         batches; no conversion to Python objects is timed).
#     The results are compared (row counts; exact rows for integer answers).
#  4. The same dashboard questions from rollups: `tollgate report traffic
#     --rollups`, process wall time, fastest of 3.
#  5. The same SQL through the Postgres protocol: `tollgate serve
#     --pg-listen` on loopback, psycopg fetching every row as Python
#     values, warm-up then fastest of 3; shown as a ratio to in-process.
#
# Usage: bench/query.sh
# Environment: EVENTS (default 50000000), CONSUMERS (1000), BENCH_LAKE (the
# lake folder, default /tmp/tollgate-bench/lake-$EVENTS), BENCH_BIN (use
# this binary instead of building the release one).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-50000000}"
CONSUMERS="${CONSUMERS:-1000}"
LAKE="${BENCH_LAKE:-/tmp/tollgate-bench/lake-$EVENTS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
python3 -c "import duckdb, pyarrow, psycopg" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow "psycopg[binary]"

if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  echo "building tollgate (release)..." >&2
  cargo build --release --locked -q -p tollgate
  BIN="$CARGO_TARGET_DIR/release/tollgate"
fi
export RUST_LOG=warn
# The same room for both engines: DuckDB gets the same memory limit below;
# an exact month of percentiles holds every latency of the month.
# `tollgate sql` runs as an analyst query, which gets 3/4 of the pool
# divided by sql_max_concurrent (docs/SQL.md): one query at a time and a
# 5,462 MB pool give it the 4,096 MB DuckDB gets.
export TOLLGATE_ANALYTICS__MEMORY_LIMIT_MB=5462
export TOLLGATE_ANALYTICS__SQL_MAX_CONCURRENT=1
export TOLLGATE_ANALYTICS__QUERY_TIMEOUT_SECS=600

# The lake is complete when its marker exists (written after import).
if [ ! -f "$LAKE.complete" ]; then
  rm -rf "$LAKE"
  mkdir -p "$(dirname "$LAKE")"
  SPOOL="$LAKE.ndjson.zst"
  echo "generating $EVENTS events..." >&2
  GEN_START=$(date +%s.%N)
  "$BIN" simulate --events "$EVENTS" --days 30 --end 2024-07-01 --consumers "$CONSUMERS" \
    --format canonical --seed 42 | zstd -q -1 -T1 -f -o "$SPOOL"
  GEN_END=$(date +%s.%N)
  echo "importing..." >&2
  "$BIN" import --lake "$LAKE" "$SPOOL" > "$LAKE.import.json"
  IMPORT_END=$(date +%s.%N)
  rm -f "$SPOOL"
  python3 - "$GEN_START" "$GEN_END" "$IMPORT_END" "$LAKE.import.json" <<'PY'
import json, sys
g0, g1, i1 = map(float, sys.argv[1:4])
rec = json.load(open(sys.argv[4]))
print(f"lake built: simulate|zstd {g1 - g0:.1f} s, import {i1 - g1:.1f} s "
      f"({rec['events']:,} events, {rec['rejects']} rejects, {rec['files']} files)")
PY
  touch "$LAKE.complete"
fi
ROLLUP_START=$(date +%s.%N)
"$BIN" rollup --lake "$LAKE"
ROLLUP_END=$(date +%s.%N)
echo "rollup: $(python3 -c "print(f'{$ROLLUP_END - $ROLLUP_START:.1f}')") s" \
  "(a no-op when the rollups were already up to date)"
echo "lake: $(du -sh "$LAKE/events" | cut -f1) of events, $(du -sh "$LAKE/rollups" | cut -f1) of rollups," \
  "$(find "$LAKE/events" -name '*.parquet' | wc -l) event files"

python3 - "$BIN" "$LAKE" <<'PY'
import csv, io, math, os, re, subprocess, sys, threading, time

import duckdb
import psycopg

BIN, LAKE = sys.argv[1], sys.argv[2]
MONTH = "date BETWEEN '2024-06-01' AND '2024-06-30'"
QUERIES = [
    ("a", "calls per consumer per day, month",
     f"SELECT consumer, date_trunc('day', ts) AS day, count(*) AS calls FROM events "
     f"WHERE {MONTH} GROUP BY consumer, day"),
    ("b", "error rates per route per hour, one day",
     "SELECT route, date_trunc('hour', ts) AS hour, count(*) AS calls, "
     "avg(CASE WHEN status BETWEEN 400 AND 499 THEN 1.0 ELSE 0.0 END) AS rate_4xx, "
     "avg(CASE WHEN status >= 500 THEN 1.0 ELSE 0.0 END) AS rate_5xx "
     "FROM events WHERE date = '2024-06-15' GROUP BY route, hour"),
    ("c", "p50/p95/p99 latency per consumer, month",
     "SELECT consumer, "
     "percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50, "
     "percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95, "
     "percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99 "
     f"FROM events WHERE {MONTH} GROUP BY consumer"),
    ("d", "top 10 consumers by calls, month",
     f"SELECT consumer, count(*) AS calls FROM events WHERE {MONTH} "
     "GROUP BY consumer ORDER BY calls DESC, consumer LIMIT 10"),
    ("e", "billable calls (status < 500) per consumer, month",
     f"SELECT consumer, count(*) AS calls FROM events WHERE {MONTH} "
     "AND status < 500 AND consumer IS NOT NULL GROUP BY consumer"),
]
EXACT = {"d", "e"}  # integer answers: compared row for row
REPORT = ["report", "traffic", "--rollups", "--format", "csv", "--lake", LAKE]
MONTH_FLAGS = ["--from", "2024-06-01", "--to", "2024-07-01"]
ROLLUPS = {
    "a": MONTH_FLAGS + ["--by", "consumer", "--bucket", "day"],
    "b": ["--from", "2024-06-15", "--to", "2024-06-16", "--by", "route", "--bucket", "hour"],
    "c": MONTH_FLAGS + ["--by", "consumer"],
    "d": MONTH_FLAGS + ["--by", "consumer", "--top", "10", "--order", "calls"],
    # Billable = calls - 5xx, both columns of the same report.
    "e": MONTH_FLAGS + ["--by", "consumer"],
}


def run(args):
    t = time.perf_counter()
    p = subprocess.run([BIN] + args, capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"tollgate {' '.join(args)} failed: {p.stderr}")
    return took, p.stdout, p.stderr


def rows_of(text):
    r = list(csv.reader(io.StringIO(text)))
    return r[1:]


def arrow(sql):
    """DuckDB's whole result as an Arrow table (`.arrow()` before DuckDB 2.0)."""
    rel = con.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def norm(rows):
    return sorted(tuple(str(v) for v in row) for row in rows)


con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET memory_limit = '4GB'")
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
con.execute(
    f"CREATE VIEW events AS SELECT * FROM read_parquet('{LAKE}/events/*/*.parquet', "
    "hive_partitioning = true, hive_types = {'date': VARCHAR})")

# The same queries through the Postgres protocol: `tollgate serve
# --pg-listen` (open, on loopback) and psycopg fetching every row.
server = subprocess.Popen(
    [BIN, "serve", "--lake", LAKE, "--address", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0"],
    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    env={**os.environ, "RUST_LOG": "info"})
port = None
for line in server.stderr:
    m = re.search(r"postgres protocol on [0-9.]+:([0-9]+)", line)
    if m:
        port = m.group(1)
        break
if port is None:
    sys.exit("tollgate serve --pg-listen did not start")
threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
pg = psycopg.connect(f"host=127.0.0.1 port={port} user=bench dbname=tollgate password=x",
                     autocommit=True)


def over_pg(sql):
    pg.execute(sql).fetchall()
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        rows = pg.execute(sql).fetchall()
        best = min(best, time.perf_counter() - t)
    return best, len(rows)


base = min(run(["sql", "--lake", LAKE, "--format", "csv", "SELECT 1"])[0] for _ in range(3))
results = []
for key, title, sql in QUERIES:
    _, out, err = run(["sql", "--lake", LAKE, "--format", "csv", "--repeat", "3", sql])
    m = re.search(r"fastest of 3 runs: ([0-9.]+) s", err)
    tg_hot = float(m.group(1))
    tg_rows = rows_of(out)
    tg_proc = min(run(["sql", "--lake", LAKE, "--format", "csv", sql])[0] for _ in range(3))
    arrow(sql)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        dk = arrow(sql)
        best = min(best, time.perf_counter() - t)
    same = len(tg_rows) == dk.num_rows
    if key in EXACT:
        dk_rows = [tuple(r.values()) for r in dk.to_pylist()]
        same = same and norm(tg_rows) == norm(dk_rows)
    rollup = min(run(REPORT + ROLLUPS[key])[0] for _ in range(3))
    over, pg_rows = over_pg(sql)
    same = same and pg_rows == len(tg_rows)
    results.append((key, title, tg_hot, tg_proc, best, rollup, over, len(tg_rows), same))
server.terminate()

print(f"\nDuckDB {duckdb.__version__} (threads=2); tollgate process start + lake open "
      f"(`tollgate sql \"SELECT 1\"`): {base * 1000:.0f} ms\n")
print("| query | tollgate in-process (s) | tollgate process (s) | duckdb (s) "
      "| ratio tollgate/duckdb | rows | same answer | rollups, process (ms) "
      "| Postgres protocol, psycopg (s) | ratio protocol/in-process |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
ratios, proc_ratios = [], []
for key, title, hot, proc, dk, rollup, over, rows, same in results:
    ratios.append(hot / dk)
    proc_ratios.append(proc / dk)
    print(f"| ({key}) {title} | {hot:.3f} | {proc:.3f} | {dk:.3f} | {hot / dk:.2f}× "
          f"| {rows:,} | {'yes' if same else 'NO'} | {rollup * 1000:.0f} "
          f"| {over:.3f} | {over / hot:.2f}× |")
gm = math.exp(sum(map(math.log, ratios)) / len(ratios))
gp = math.exp(sum(map(math.log, proc_ratios)) / len(proc_ratios))
print(f"\ngeometric mean tollgate/duckdb: {gm:.2f}× in-process, {gp:.2f}× as processes; "
      f"worst query {max(ratios):.2f}× in-process")
if not all(r[-1] for r in results):
    sys.exit("the engines disagree on at least one query")
PY
