#!/usr/bin/env bash
# Dashboard benchmark (issue 6): how fast `tollgate serve` answers its
# endpoints over a month of hourly rollups.
#
#  1. Lake: `tollgate simulate` (canonical JSON, CONSUMERS consumers, the 30
#     days of June 2024), `tollgate import`, `tollgate rollup`; the same lake
#     layout as bench/query.sh, reused when present (BENCH_LAKE).
#  2. `tollgate serve` (release) open on a free loopback port.
#  3. Each endpoint over the whole month: one warm-up request, then RUNS
#     timed requests one after another with curl (wall time of the whole
#     request, connection included); prints min, median and max in ms, and
#     the response size. No other load runs on the server meanwhile.
#
# Usage: bench/dashboard.sh
# Environment: EVENTS (default 10000000), CONSUMERS (1000), RUNS (20),
# BENCH_LAKE (default /tmp/tollgate-bench/lake-$EVENTS), BENCH_BIN (use this
# binary instead of building the release one).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-10000000}"
CONSUMERS="${CONSUMERS:-1000}"
RUNS="${RUNS:-20}"
LAKE="${BENCH_LAKE:-/tmp/tollgate-bench/lake-$EVENTS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"

if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  echo "building tollgate (release)..." >&2
  cargo build --release --locked -q -p tollgate
  BIN="$CARGO_TARGET_DIR/release/tollgate"
fi
export RUST_LOG=warn

if [ ! -f "$LAKE.complete" ]; then
  rm -rf "$LAKE"
  mkdir -p "$(dirname "$LAKE")"
  SPOOL="$LAKE.ndjson.zst"
  echo "generating $EVENTS events..." >&2
  "$BIN" simulate --events "$EVENTS" --days 30 --end 2024-07-01 --consumers "$CONSUMERS" \
    --format canonical --seed 42 | zstd -q -1 -T1 -f -o "$SPOOL"
  echo "importing..." >&2
  "$BIN" import --lake "$LAKE" "$SPOOL" > "$LAKE.import.json"
  rm -f "$SPOOL"
  touch "$LAKE.complete"
fi
"$BIN" rollup --lake "$LAKE"
echo "lake: $(du -sh "$LAKE/events" | cut -f1) of events, $(du -sh "$LAKE/rollups" | cut -f1) of rollups"
"$BIN" sql --lake "$LAKE" --format csv \
  "SELECT count(*) AS rollup_rows, sum(calls) AS calls, count(DISTINCT consumer) AS consumers FROM rollups_hourly"

LOG=$(mktemp)
RUST_LOG=info "$BIN" serve --lake "$LAKE" --address 127.0.0.1:0 2> "$LOG" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 100); do
  ADDR=$(grep -o 'listening on http://[0-9.:]*' "$LOG" | sed 's|.*http://||' || true)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG" >&2; exit 1; }
BASE="http://$ADDR"
CONSUMER=$(curl -sf "$BASE/api/top?from=2024-06-01&to=2024-07-01&by=consumer&n=1" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0]["consumer"])')
MONTH="from=2024-06-01&to=2024-07-01"
DAYS30="from=2024-06-02&to=2024-07-02"

python3 - "$BASE" "$RUNS" <<PY
import statistics, subprocess, sys
base, runs = sys.argv[1], int(sys.argv[2])
cases = [
    ("/api/traffic?$MONTH&bucket=day", "series, 30 days"),
    ("/api/traffic?$MONTH&bucket=hour", "series, 720 hours"),
    ("/api/consumers?$MONTH", "consumer list"),
    ("/api/consumers/$CONSUMER?$MONTH&bucket=hour", "one consumer ($CONSUMER)"),
    ("/api/routes?$MONTH", "routes"),
    ("/api/top?$MONTH&by=route&order=p99&n=10", "top 10 routes by p99"),
    ("/overview?$MONTH&bucket=hour", "Overview page"),
    ("/consumers?$MONTH", "Consumers page"),
    ("/api/traffic?from=2024-06-30T22:00&to=2024-07-01&bucket=minute", "2 h per minute (raw events)"),
    # 30 days that are not a calendar month: day rows, not month rows.
    ("/api/consumers?$DAYS30", "consumer list, Jun 2-Jul 1"),
    ("/overview?$DAYS30", "Overview page, Jun 2-Jul 1"),
    ("/consumers?$DAYS30", "Consumers page, Jun 2-Jul 1"),
]
def once(path):
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}", base + path],
        check=True, capture_output=True, text=True).stdout.split()
    if out[0] != "200":
        sys.exit(f"{path}: HTTP {out[0]}")
    return float(out[1]) * 1000, int(out[2])
print(f"{'endpoint':<34} {'min ms':>8} {'median':>8} {'max':>8} {'bytes':>10}")
for path, label in cases:
    once(path)
    times, size = [], 0
    for _ in range(runs):
        t, size = once(path)
        times.append(t)
    print(f"{label:<34} {min(times):8.1f} {statistics.median(times):8.1f} {max(times):8.1f} {size:10,}")
PY
