#!/usr/bin/env python3
"""A month's billable usage from a Tollgate lake, with Spark SQL.

Reads the lake as any Spark job would (no Tollgate code): the committed
files of `events/`, `quarantine/` and `rollups/hourly/`, and the `invoices/`
table. Prints one JSON object on stdout:

  billable        [[consumer, calls], ...]  deduplicated like the invoices
  rows            [[consumer, rows], ...]   the same filter, every row
  rollup_calls    [[consumer, calls], ...]  the same filter, hourly rollup
  invoiced        [[consumer, quantity], ...]  finalized usage lines of
                                            the `calls` metric, summed
  quarantine_rows, quarantine_reasons, uncommitted (files left out),
  partition_types, spark_version

The definition of a billable call is docs/BILLING.md's ("Billable
metrics"): within the UTC month, the rows sharing an `event_id` on one UTC
day are one call; the copy kept is the smallest by (consumer, ts, status,
api, route, method, request_bytes, response_bytes), nulls last; it is
billable when its status is below `--status-below` (the plan's
`filter = { status_below = ... }`; a null status never is).

Committed files only (docs/LAKE.md, "Reading a consistent snapshot"):
after listing a table's `*.parquet` files, the files named by a pending
flush (`_tollgate/pending/*/*.json`) or by a chunk record of an import
without its marker (`_tollgate/imports/<hash>/*.json` and no
`_tollgate/imports/<hash>.json`) are left out.

Local:   python3 scripts/spark_usage.py --lake ./tollgate-data --month 2026-09 \
             --master 'local[2]' --driver-memory 512m
Cluster: spark-submit --packages org.apache.hadoop:hadoop-aws:3.4.1 \
             scripts/spark_usage.py --lake s3a://bucket/lake --month 2026-09
(docs/OPERATIONS.md, "Monthly usage on a Spark cluster").
"""

import argparse
import calendar
import json
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", required=True, help="lake root: a folder, file:/..., s3a://bucket/prefix")
    p.add_argument("--month", required=True, help="the billing period, YYYY-MM (a UTC calendar month)")
    p.add_argument("--status-below", type=int, default=500,
                   help="billable when status < this (the plan's status_below; default 500)")
    p.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    p.add_argument("--driver-memory", help="spark.driver.memory, e.g. 512m (local mode: all of Spark's heap)")
    return p.parse_args()


def month_bounds(month):
    """('2026-09-01', '2026-09-30', '2026-09-01T00:00:00Z', '2026-10-01T00:00:00Z')."""
    year, mon = (int(x) for x in month.split("-"))
    last = calendar.monthrange(year, mon)[1]
    ny, nm = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return (f"{year:04}-{mon:02}-01", f"{year:04}-{mon:02}-{last:02}",
            f"{year:04}-{mon:02}-01T00:00:00Z", f"{ny:04}-{nm:02}-01T00:00:00Z")


def session(args):
    b = SparkSession.builder.appName("tollgate-monthly-usage")
    if args.master:
        b = b.master(args.master)
    if args.driver_memory:
        b = b.config("spark.driver.memory", args.driver_memory)
    if args.master and args.master.startswith("local"):
        # A small local run: loopback only, no web UI or progress bar, few
        # shuffle partitions.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        b = (b.config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2"))
    spark = (
        b
        # Month and day boundaries are UTC, as Tollgate's (the `date=`
        # folders are UTC days, timestamps are stored in UTC).
        .config("spark.sql.session.timeZone", "UTC")
        # `date=`, `period=` stay strings, as Tollgate's own tables type
        # them: inference would make `date` a DATE (and a partition such as
        # `period=2026-09` whatever it happens to parse as).
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark


def hadoop_fs(spark, path):
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p, p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def exists(spark, path):
    p, fs = hadoop_fs(spark, path)
    return fs.exists(p)


def glob(spark, pattern):
    """Paths matching a Hadoop glob (empty when none)."""
    p, fs = hadoop_fs(spark, pattern)
    found = fs.globStatus(p) or []
    return [s.getPath().toString() for s in found]


def read_json_files(spark, paths):
    """(path, parsed JSON) of each file."""
    if not paths:
        return []
    rows = (spark.read.text(paths, wholetext=True)
            .select("value", F.col("_metadata.file_path").alias("path")).collect())
    return [(r["path"], json.loads(r["value"])) for r in rows]


def uncommitted_files(spark, lake):
    """Lake-relative paths of data files not (yet) committed."""
    out = set()
    for _, rec in read_json_files(spark, glob(spark, f"{lake}/_tollgate/pending/*/*.json")):
        out.update(rec["files"])
    done = {p.rsplit("/", 1)[1][: -len(".json")] for p in glob(spark, f"{lake}/_tollgate/imports/*.json")}
    for path, rec in read_json_files(spark, glob(spark, f"{lake}/_tollgate/imports/*/*.json")):
        if path.rsplit("/", 2)[1] not in done:
            out.update(rec["files"])
    return sorted(out)


def table(spark, lake, folder):
    """A Hive-partitioned table's `*.parquet` files, listed now; None when
    the folder does not exist yet (a fresh lake)."""
    if not exists(spark, f"{lake}/{folder}"):
        return None
    # Only `*.parquet`: Spark would also read other files (it skips only
    # names starting with `_` or `.`).
    return spark.read.option("pathGlobFilter", "*.parquet").parquet(f"{lake}/{folder}")


def committed(df, uncommitted):
    """`df` without the rows of uncommitted files. `_metadata.file_path` is
    a full URI; its last three segments (`events/date=…/x.parquet`) are
    the lake-relative path the bookkeeping records name."""
    if df is None or not uncommitted:
        return df
    rel = F.substring_index(F.col("_metadata.file_path"), "/", -3)
    return df.where(~rel.isin(uncommitted))


def pairs(rows):
    return [[r[0], r[1]] for r in rows]


def main():
    args = parse_args()
    first_day, last_day, start, end = month_bounds(args.month)
    lake = args.lake.rstrip("/")
    spark = session(args)

    # List the data files first, then read the bookkeeping: a flush that
    # commits in between is counted (its files are complete), one that
    # starts in between is not listed.
    events = table(spark, lake, "events")
    if events is None:
        sys.exit(f"{lake}/events does not exist: is --lake the lake's root?")
    quarantine = table(spark, lake, "quarantine")
    uncommitted = uncommitted_files(spark, lake)
    committed(events, uncommitted).createOrReplaceTempView("events")

    where = (f"date BETWEEN '{first_day}' AND '{last_day}' "
             f"AND ts >= TIMESTAMP '{start}' AND ts < TIMESTAMP '{end}'")
    billable = spark.sql(f"""
        WITH kept AS (
          SELECT consumer, status, row_number() OVER (
                   PARTITION BY date, event_id
                   ORDER BY consumer ASC NULLS LAST, ts ASC NULLS LAST,
                            status ASC NULLS LAST, api ASC NULLS LAST,
                            route ASC NULLS LAST, method ASC NULLS LAST,
                            request_bytes ASC NULLS LAST,
                            response_bytes ASC NULLS LAST) AS copy_no
          FROM events WHERE {where})
        SELECT consumer, count(*) AS calls FROM kept
        WHERE copy_no = 1 AND status < {args.status_below}
        GROUP BY consumer ORDER BY consumer""").collect()
    rows = spark.sql(f"""
        SELECT consumer, count(*) FROM events
        WHERE {where} AND status < {args.status_below}
        GROUP BY consumer ORDER BY consumer""").collect()

    out = {
        "spark_version": spark.version,
        "month": args.month,
        "uncommitted": uncommitted,
        "billable": pairs(billable),
        "rows": pairs(rows),
        "partition_types": {"events.date": dict(events.dtypes)["date"]},
        "rollup_calls": [],
        "invoiced": [],
        "quarantine_rows": 0,
        "quarantine_reasons": {},
    }

    rollups = table(spark, lake, "rollups/hourly")
    if rollups is not None:
        rollups.createOrReplaceTempView("rollups_hourly")
        out["rollup_calls"] = pairs(spark.sql(f"""
            SELECT consumer, CAST(sum(calls) AS BIGINT) FROM rollups_hourly
            WHERE date BETWEEN '{first_day}' AND '{last_day}'
              AND hour >= TIMESTAMP '{start}' AND hour < TIMESTAMP '{end}'
              AND status < {args.status_below}
            GROUP BY consumer ORDER BY consumer""").collect())

    if quarantine is not None:
        committed(quarantine, uncommitted).createOrReplaceTempView("quarantine")
        reasons = spark.sql("SELECT reason, count(*) FROM quarantine GROUP BY reason").collect()
        out["quarantine_reasons"] = {r[0]: r[1] for r in reasons}
        out["quarantine_rows"] = sum(r[1] for r in reasons)
        out["partition_types"]["quarantine.date"] = dict(quarantine.dtypes)["date"]

    invoices = table(spark, lake, "invoices")
    if invoices is not None:
        invoices.createOrReplaceTempView("invoices")
        # `quantity` is DECIMAL(38,9) (BIGINT in files written before
        # amount metrics): a whole number for calls.
        out["invoiced"] = pairs(spark.sql(f"""
            SELECT consumer, CAST(sum(quantity) AS BIGINT) FROM invoices
            WHERE period = '{args.month}' AND status = 'finalized'
              AND kind = 'usage' AND metric = 'calls'
            GROUP BY consumer ORDER BY consumer""").collect())
        out["partition_types"]["invoices.period"] = dict(invoices.dtypes)["period"]

    print(json.dumps(out, sort_keys=True))
    spark.stop()


if __name__ == "__main__":
    main()
