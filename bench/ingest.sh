#!/usr/bin/env bash
# Ingest benchmark: Tollgate against a peer measured in the same run.
#
#  1. Decode and write: `tollgate import` of N realistic mixed-gateway JSON
#     events (`tollgate simulate --format json`: Kong, APISIX, Envoy, AWS,
#     Tyk, Traefik and NGINX JSON lines, one simulated day) vs DuckDB (2 threads) converting the same
#     file with COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet,
#     COMPRESSION zstd): events/s, wall-time ratio, peak RSS, bytes/event.
#  2. Kafka path: the topic loaded first into a local tansu broker, then a
#     raw counting consumer (confluent-kafka) vs `tollgate ingest --once`.
#     tansu is a correctness broker: it bounds both figures.
#
# Usage: bench/ingest.sh [EVENTS=5000000] [KAFKA_EVENTS=300000]
# Set BENCH_DIR to keep (and reuse) the generated files.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-5000000}"
K="${2:-300000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
WORK="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
python3 -c "import duckdb, confluent_kafka" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check duckdb confluent-kafka

echo "building tollgate (release)..." >&2
cargo build --release --locked -q
BIN="$CARGO_TARGET_DIR/release/tollgate"

INPUT="$WORK/sim-events-$N.log"
if [ ! -s "$INPUT" ]; then
  echo "generating $N events..." >&2
  RUST_LOG=warn "$BIN" simulate --events "$N" --format json --consumers 500 --days 1 \
    --end 2024-06-12 --seed 42 --out "$INPUT"
fi
INPUT_BYTES=$(stat -c %s "$INPUT")

# "wall_seconds max_rss_kib" from a GNU time -v report.
measure() {
  local report=$1
  awk -F': ' '/Elapsed \(wall clock\)/ {
      n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; wall = s }
    /Maximum resident set size/ { rss = $2 }
    END { printf "%.2f %d\n", wall, rss }' "$report"
}

echo "== decode and write: $N events, $((INPUT_BYTES / 1024 / 1024)) MiB of JSON" >&2
rm -rf "$WORK/lake" "$WORK/duck.parquet"
/usr/bin/time -v "$BIN" import --lake "$WORK/lake" "$INPUT" > "$WORK/import.json" 2> "$WORK/tollgate.time"
read -r TG_WALL TG_RSS < <(measure "$WORK/tollgate.time")
TG_EVENTS=$(python3 -c "import json;print(json.load(open('$WORK/import.json'))['events'])")
TG_BYTES=$(du -sb "$WORK/lake/events" | cut -f1)

/usr/bin/time -v python3 -c "
import duckdb
con = duckdb.connect()
con.execute('SET threads = 2')
con.execute('SET enable_progress_bar = false')
con.execute(\"COPY (SELECT * FROM read_json('$INPUT', format = 'newline_delimited')) TO '$WORK/duck.parquet' (FORMAT parquet, COMPRESSION zstd)\")
" 2> "$WORK/duckdb.time"
read -r DK_WALL DK_RSS < <(measure "$WORK/duckdb.time")
DK_BYTES=$(stat -c %s "$WORK/duck.parquet")

python3 - "$N" "$TG_EVENTS" "$TG_WALL" "$TG_RSS" "$TG_BYTES" "$DK_WALL" "$DK_RSS" "$DK_BYTES" <<'PY'
import sys
n, tg_events = int(sys.argv[1]), int(sys.argv[2])
tw, tr, tb, dw, dr, db = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
print(f"decode+write of {n} events ({tg_events} accepted by tollgate)")
print(f"{'':22}{'tollgate import':>18}{'duckdb COPY':>18}")
print(f"{'wall time (s)':22}{tw:>18.2f}{dw:>18.2f}")
print(f"{'events/s':22}{n / tw:>18,.0f}{n / dw:>18,.0f}")
print(f"{'peak RSS (MiB)':22}{tr / 1024:>18,.0f}{dr / 1024:>18,.0f}")
print(f"{'bytes/event':22}{tb / n:>18.1f}{db / n:>18.1f}")
print(f"wall-time ratio duckdb/tollgate: {dw / tw:.2f}x")
PY

echo "== kafka path: $K events through a local tansu broker" >&2
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
TANSU="${TANSU_BIN:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}"
mkdir -p "$WORK/tansu" && rm -f "$WORK/tansu/tansu.db"*
(cd "$WORK/tansu" && RUST_LOG=warn "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" \
   --advertised-listener-url "tcp://127.0.0.1:$PORT" --storage-engine sqlite://tansu.db > tansu.log 2>&1) &
TANSU_PID=$!
trap 'kill $TANSU_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
"$TANSU" topic create --broker "tcp://127.0.0.1:$PORT" --partitions 4 bench >/dev/null
python3 - "$PORT" "$INPUT" "$K" <<'PY'
import sys
from confluent_kafka import Producer
port, path, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "linger.ms": 20, "acks": "all"})
with open(path, "rb") as f:
    for i, line in enumerate(f):
        if i >= k:
            break
        while True:
            try:
                p.produce("bench", line.rstrip(b"\n"), partition=i % 4)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
assert p.flush(300) == 0
PY
RAW_START=$(date +%s.%N)
python3 - "$PORT" "$K" <<'PY'
import sys
from confluent_kafka import Consumer
port, k = sys.argv[1], int(sys.argv[2])
c = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "raw-count", "auto.offset.reset": "earliest",
              "enable.auto.commit": False})
c.subscribe(["bench"])
n = 0
while n < k:
    for m in c.consume(1000, 1.0):
        if not m.error():
            n += 1
c.close()
PY
RAW_END=$(date +%s.%N)
rm -rf "$WORK/klake"
KSTART=$(date +%s.%N)
RUST_LOG=warn "$BIN" ingest --brokers "127.0.0.1:$PORT" --topics bench --group tollgate-bench \
  --lake "$WORK/klake" --once
KEND=$(date +%s.%N)
python3 - "$K" "$RAW_START" "$RAW_END" "$KSTART" "$KEND" <<'PY'
import sys
k = int(sys.argv[1]); raw = float(sys.argv[3]) - float(sys.argv[2]); tg = float(sys.argv[5]) - float(sys.argv[4])
print(f"kafka path, {k} events, tansu (sqlite storage) broker")
print(f"{'':22}{'tollgate ingest':>18}{'raw consumer':>18}")
print(f"{'wall time (s)':22}{tg:>18.2f}{raw:>18.2f}")
print(f"{'events/s':22}{k / tg:>18,.0f}{k / raw:>18,.0f}")
print(f"ratio tollgate/raw: {raw / tg:.2f}x (both include group join; the broker bounds both)")
PY
