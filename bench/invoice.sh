#!/usr/bin/env bash
# Invoice-run benchmark (issue 5): `tollgate invoice run` for 10,000
# subscribed consumers over a month of 50 million events; wall time and
# peak RSS (GNU time).
#
#  1. Lake: `tollgate simulate` (canonical JSON, 10,000 consumers, October
#     2026, seed 5) through zstd into `tollgate import`; reused when present.
#  2. Subscriptions: every consumer on a plan of deploy/plans.toml, round
#     robin over free / growth / enterprise / tokyo, one in ten changing
#     plan on the 16th (two segments), so every model and proration runs.
#  3. Customers (`customers.toml`): a third of the consumers (every third
#     one) pay a tax (VAT 19%, or 10% in JPY), have a 10% coupon for three
#     periods and a prepaid grant in their plan's currency (half of them
#     expiring), so settlement (coupons, tax, credit burn) runs on 3,334
#     invoices.
#  4. `invoice run --period 2026-10`, three times (the first also warms the
#     page cache); each run recomputes every draft from the events, with
#     deduplication by event_id.
#
# Usage: bench/invoice.sh
# Environment: EVENTS (default 50000000), CONSUMERS (10000), BENCH_LAKE,
# BENCH_BIN (use this binary instead of building the release one).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-50000000}"
CONSUMERS="${CONSUMERS:-10000}"
LAKE="${BENCH_LAKE:-/tmp/tollgate-bench/invoice-lake-$EVENTS-$CONSUMERS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  echo "building tollgate (release)..." >&2
  cargo build --release --locked -q -p tollgate
  BIN="$CARGO_TARGET_DIR/release/tollgate"
fi
export RUST_LOG=warn
export TOLLGATE_ANALYTICS__MEMORY_LIMIT_MB=8192
export TOLLGATE_ANALYTICS__QUERY_TIMEOUT_SECS=600

if [ ! -f "$LAKE.complete" ]; then
  rm -rf "$LAKE"
  mkdir -p "$(dirname "$LAKE")"
  SPOOL="$LAKE.ndjson.zst"
  echo "generating $EVENTS events for $CONSUMERS consumers..." >&2
  "$BIN" simulate --events "$EVENTS" --days 31 --end 2026-11-01 --consumers "$CONSUMERS" \
    --format canonical --seed 5 | zstd -q -1 -T1 -f -o "$SPOOL"
  echo "importing..." >&2
  "$BIN" import --lake "$LAKE" "$SPOOL" > /dev/null
  rm -f "$SPOOL"
  touch "$LAKE.complete"
fi

SUBS="$LAKE.subscriptions.toml"
python3 - "$CONSUMERS" > "$SUBS" <<'PY'
import sys
n = int(sys.argv[1])
plans = ["free", "growth", "enterprise", "tokyo"]
for i in range(1, n + 1):
    c = f"acct-{i:04d}"
    p = plans[i % len(plans)]
    if i % 10 == 0 and p != "tokyo":
        # A mid-month upgrade to growth (same currency unless enterprise).
        nxt = "growth" if p != "enterprise" else "enterprise"
        print(f'[[subscription]]\nconsumer = "{c}"\nplan = "{p}"\nstart = "2026-01-01"\nend = "2026-10-16"\n')
        print(f'[[subscription]]\nconsumer = "{c}"\nplan = "{nxt}"\nstart = "2026-10-16"\n')
    else:
        print(f'[[subscription]]\nconsumer = "{c}"\nplan = "{p}"\nstart = "2026-01-01"\n')
PY

CUSTOMERS_FILE="$LAKE.customers.toml"
python3 - "$CONSUMERS" > "$CUSTOMERS_FILE" <<'PY'
import sys
n = int(sys.argv[1])
plans = ["free", "growth", "enterprise", "tokyo"]
currency = {"free": "USD", "growth": "USD", "enterprise": "EUR", "tokyo": "JPY"}
print('[[tax]]\nid = "vat"\nname = "VAT 19%"\nrate = "0.19"\n')
print('[[tax]]\nid = "jct"\nname = "JCT 10%"\nrate = "0.10"\n')
print('[[coupon]]\nid = "ten"\npercent = "10"\nperiods = 3\n')
for i in range(1, n + 1):
    if i % 3:
        continue
    c = f"acct-{i:04d}"
    cur = currency[plans[i % len(plans)]]
    tax = "jct" if cur == "JPY" else "vat"
    print(f'[[customer]]\nconsumer = "{c}"\ntax = "{tax}"\ncoupons = [{{ coupon = "ten", from = "2026-10" }}]\n')
    amount = "5000" if cur == "JPY" else "50.00"
    expires = 'expires = "2026-12-01"\n' if i % 2 else ""
    print(f'[[grant]]\nid = "g-{c}"\nconsumer = "{c}"\namount = "{amount}"\ncurrency = "{cur}"\ngranted = "2026-10-01"\n{expires}')
PY
export TOLLGATE_BILLING__CUSTOMERS="$CUSTOMERS_FILE"

echo "lake: $(du -sh "$LAKE/events" | cut -f1) of events; $CONSUMERS subscriptions; $(grep -c '^\[\[customer' "$CUSTOMERS_FILE") customers with tax, coupon and a grant"
for i in 1 2 3; do
  /usr/bin/time -f "run $i: %e s wall, %M KiB peak RSS" \
    "$BIN" invoice run --lake "$LAKE" --plans deploy/plans.toml --subscriptions "$SUBS" \
      --period 2026-10 --now 2026-11-02T00:00:00Z
done
