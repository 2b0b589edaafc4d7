#!/usr/bin/env bash
# Runs Tollgate's whole test suite on a fresh machine: installs what the
# tests need, then formatting, lints, unit, property and end-to-end tests.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused between runs on the same machine (DataFusion and
# librdkafka are large); a fresh machine simply starts empty.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format"
cargo fmt --all --check

echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
cargo test --workspace --locked
