#!/usr/bin/env bash
# Signals benchmark (issue 8): how long one quota evaluation of
# `tollgate watch` takes over a month of 50 million events, the third term
# of the staleness bound (ingest.max_latency_ms + poll interval + one
# evaluation), next to DuckDB (2 threads) counting the same usage over the
# same Parquet files in the same run.
#
#  1. Lake: bench/query.sh's (50M events, June 2024, 1,000 consumers);
#     built by it when missing.
#  2. Subscriptions: every consumer on deploy/plans.toml, round robin over
#     free / growth / enterprise / tokyo: free has a day and a minute
#     quota, growth a billing-period quota (status < 500).
#  3. `tollgate watch --once --now 2024-06-20T12:00:00Z --evaluations 3`:
#     evaluation 1 also counts June 1-19 for the period quota; 2 and 3
#     reuse that count as the running watcher does for period_refresh_secs
#     and recount today (the day quota), this minute, and today for the
#     period. Signals are filed in the lake's ledger (no outputs).
#  4. DuckDB: the same deduplicated counts (per consumer, distinct
#     event_id) for June 20 and for June 1-19, hot, best of 3.
#
# Usage: bench/signals.sh      Environment: BENCH_LAKE, BENCH_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
LAKE="${BENCH_LAKE:-/tmp/tollgate-bench/lake-50000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
if [ ! -f "$LAKE.complete" ]; then
  BENCH_LAKE="$LAKE" bench/query.sh
fi
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  cargo build --release --locked -q -p tollgate
  BIN="$CARGO_TARGET_DIR/release/tollgate"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK/subscriptions.toml" <<'PY'
import sys
plans = ["free", "growth", "enterprise", "tokyo"]
with open(sys.argv[1], "w") as f:
    for i in range(1, 1001):
        f.write(f'[[subscription]]\nconsumer = "acct-{i:04d}"\nplan = "{plans[i % 4]}"\nstart = "2024-01-01"\n')
PY
cat > "$WORK/tollgate.toml" <<TOML
[lake]
location = "$LAKE"
[billing]
plans = "$PWD/deploy/plans.toml"
subscriptions = "$WORK/subscriptions.toml"
[analytics]
memory_limit_mb = 8192
query_timeout_secs = 600
[signals]
topic = ""
TOML
export RUST_LOG=warn
echo "== tollgate watch --once (3 evaluations at 2024-06-20T12:00Z)"
/usr/bin/time -f "peak RSS %M KiB, wall %e s" "$BIN" watch --once --now 2024-06-20T12:00:00Z \
  --evaluations 3 --config "$WORK/tollgate.toml" > "$WORK/signals.jsonl"
echo "signals filed by this run: $(wc -l < "$WORK/signals.jsonl")"

echo "== DuckDB 2 threads, same counts (best of 3, hot)"
python3 - "$LAKE" <<'PY'
import sys, time, duckdb
lake = sys.argv[1]
c = duckdb.connect()
c.sql("SET threads = 2")
def best(sql):
    times = []
    for _ in range(3):
        t = time.perf_counter(); c.sql(sql).fetchall(); times.append(time.perf_counter() - t)
    return min(times)
today = f"read_parquet('{lake}/events/date=2024-06-20/*.parquet')"
month = f"read_parquet('{lake}/events/date=2024-06-[01]*/*.parquet')"
d = best(f"SELECT consumer, count(DISTINCT event_id) FROM {today} GROUP BY 1")
m = best(f"SELECT consumer, count(DISTINCT event_id) FROM {month} "
         f"WHERE status < 500 AND ts < TIMESTAMPTZ '2024-06-20 00:00:00+00' GROUP BY 1")
print(f"duckdb: today per consumer {d:.3f} s; June 1-19 per consumer {m:.3f} s; both {d + m:.3f} s")
PY
