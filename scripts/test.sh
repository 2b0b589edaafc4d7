#!/usr/bin/env bash
# Runs Tollgate's whole test suite on a fresh machine: installs what the
# tests need (the tansu Kafka-protocol broker, DuckDB, pyarrow, moto's S3
# server, Chromium for the dashboard's browser test, a Java runtime and
# pyspark for the Spark test), then formatting, lints,
# unit, property and end-to-end tests.
# This is the README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds are reused between runs on the same machine (DataFusion and
# librdkafka are large); a fresh machine simply starts empty.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

TANSU_VERSION=0.6.0
echo "== tools"
if ! { command -v tansu >/dev/null && tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; } \
   && ! { [ -x "$HOME/.cargo/bin/tansu" ] && "$HOME/.cargo/bin/tansu" --version 2>/dev/null | grep -q "$TANSU_VERSION"; }; then
  echo "installing the tansu broker $TANSU_VERSION (a real Kafka-protocol broker for the end-to-end tests; ~10 min on 2 cores)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql
fi
export TANSU_BIN="${TANSU_BIN:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}"
if ! python3 -c "import duckdb, pyarrow, moto, deltalake" 2>/dev/null; then
  echo "installing duckdb, pyarrow, deltalake and moto (readers of the lake and its Delta log; an S3-compatible server)"
  python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow deltalake "moto[server]"
fi

if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium (the dashboard's browser test drives it headless)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# Spark reads the lake in local mode (tests/e2e/spark.rs): a Java runtime
# from Debian and pyspark from PyPI (pyspark 4 needs Java 17 or later).
if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then
  echo "installing Debian's openjdk-17-jre-headless (Spark's runtime)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if [ -z "${JAVA_HOME:-}" ]; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  export JAVA_HOME
fi
if ! python3 -c "import pyspark, sys; sys.exit(0 if pyspark.__version__.startswith('4.') else 1)" 2>/dev/null; then
  echo "installing pyspark 4 (Spark in local mode, ~350 MB)"
  python3 -m pip install --quiet --disable-pip-version-check "pyspark>=4,<5"
fi

# The Postgres wire protocol (tests/e2e/pg.rs): Debian's psql and openssl
# (a test certificate), psycopg from PyPI.
if ! command -v psql >/dev/null || ! command -v openssl >/dev/null; then
  echo "installing Debian's postgresql-client and openssl (psql against tollgate serve --pg-listen)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client openssl >/dev/null
fi
if ! python3 -c "import psycopg" 2>/dev/null; then
  echo "installing psycopg (a Postgres driver against tollgate serve --pg-listen)"
  python3 -m pip install --quiet --disable-pip-version-check "psycopg[binary]"
fi

echo "== format"
cargo fmt --all --check

echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Modules inside a crate form layers, not circles (docs/ARCHITECTURE.md).
python3 scripts/module_cycles.py

echo "== tests"
cargo test --workspace --locked
