#!/usr/bin/env bash
# Analyst SQL limits (issue 19): for each hostile query from the issue and a
# normal one, the time to an answer (or refusal) and the peak RSS of a
# fresh `tollgate serve` that answered it over POST /api/sql, next to DuckDB
# (PyPI, 2 threads, the same memory limit) running the same SQL over the
# same Parquet files in a fresh process.
#
# Usage: bench/sql_limits.sh
# Environment: EVENTS (default 1000000), BENCH_LAKE (default
# /tmp/tollgate-bench/limits-lake-$EVENTS), BENCH_BIN (use this binary
# instead of building the release one), MEMORY_LIMIT_MB (default 1024).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-1000000}"
LAKE="${BENCH_LAKE:-/tmp/tollgate-bench/limits-lake-$EVENTS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
python3 -c "import duckdb" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check duckdb
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  echo "building tollgate (release)..." >&2
  cargo build --release --locked -q -p tollgate
  BIN="$CARGO_TARGET_DIR/release/tollgate"
fi
export RUST_LOG=warn
if [ ! -f "$LAKE.complete" ]; then
  rm -rf "$LAKE"; mkdir -p "$(dirname "$LAKE")"
  echo "generating and importing $EVENTS events..." >&2
  "$BIN" simulate --events "$EVENTS" --days 30 --end 2024-07-01 --format canonical --seed 7 \
    | "$BIN" import --lake "$LAKE" - >/dev/null
  touch "$LAKE.complete"
fi
exec python3 bench/sql_limits.py "$BIN" "$LAKE" "${MEMORY_LIMIT_MB:-1024}"
