#!/usr/bin/env bash
# Fuzzes the decoders with libFuzzer (needs the nightly toolchain and
# `cargo install cargo-fuzz`). Seeds come from samples/gateways.log.
# Usage: scripts/fuzz.sh [SECONDS]   (default 600)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-600}"
mkdir -p corpus/decode
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf '%s' "$line" > "corpus/decode/sample_$n"
done < ../samples/gateways.log
cargo +nightly fuzz run decode corpus/decode -- -max_total_time="$secs" -max_len=8192 -rss_limit_mb=2048
