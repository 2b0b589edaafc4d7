"""The measuring half of bench/sql_limits.sh (see there)."""
import json, os, re, resource, signal, subprocess, sys, time, urllib.request, urllib.error

BIN, LAKE, LIMIT_MB = sys.argv[1], sys.argv[2], int(sys.argv[3])
QUERIES = [
    ("normal: calls per consumer", "SELECT consumer, count(*) AS calls FROM events GROUP BY consumer ORDER BY calls DESC"),
    ("repeat 1 GB", "SELECT repeat('x', 1000000000)"),
    ("length(repeat 300 MB)", "SELECT length(repeat('x', 300000000))"),
    ("string_agg over every event", "SELECT string_agg(event_id, ',') FROM events"),
    ("generate_series 1e10 (list)", "SELECT generate_series(1, 10000000000)"),
    ("generate_series 1e10 (table)", "SELECT * FROM generate_series(1, 10000000000)"),
    ("3-way self-join with output", "SELECT a.*, b.*, c.* FROM events a JOIN events b ON a.consumer = b.consumer JOIN events c ON b.consumer = c.consumer"),
]
TIMEOUT_S = 60


def hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+)", f.read())
    return int(m.group(1)) // 1024


def tollgate(sql):
    env = dict(os.environ, TOLLGATE_ANALYTICS__MEMORY_LIMIT_MB=str(LIMIT_MB),
               TOLLGATE_ANALYTICS__QUERY_TIMEOUT_SECS=str(TIMEOUT_S), RUST_LOG="info")
    env.pop("TOLLGATE_CONFIG", None)
    p = subprocess.Popen([BIN, "serve", "--address", "127.0.0.1:0", "--lake", LAKE],
                         env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    addr = None
    for line in p.stderr:
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            addr = m.group(1)
            break
    base = hwm_mb(p.pid)
    req = urllib.request.Request(f"http://{addr}/api/sql", data=json.dumps({"query": sql}).encode(),
                                 headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S + 30) as r:
            body = json.loads(r.read())
            outcome = f"200, {body['row_count']} rows" + (", truncated" if body.get("truncated") else "")
    except urllib.error.HTTPError as e:
        outcome = f"{e.code} {json.loads(e.read())['error']['code']}"
    took = time.perf_counter() - t
    peak = hwm_mb(p.pid)
    p.send_signal(signal.SIGTERM)
    p.wait()
    return outcome, took, base, peak


DUCK = r"""
import duckdb, resource, sys, time
lake, sql, limit = sys.argv[1], sys.argv[2], sys.argv[3]
c = duckdb.connect()
c.execute("SET threads = 2"); c.execute("SET enable_progress_bar = false"); c.execute(f"SET memory_limit = '{limit}MB'")
c.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{lake}/events/date=*/*.parquet', hive_partitioning = true)")
t = time.perf_counter()
try:
    rows = c.execute(sql).fetchmany(10000)
    out = f"ok, {len(rows)} rows fetched"
except Exception as e:
    out = "error: " + str(e).splitlines()[0][:60]
print(out, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, sep="\t")
"""


def duckdb(sql):
    try:
        r = subprocess.run([sys.executable, "-c", DUCK, LAKE, sql, str(LIMIT_MB)], capture_output=True,
                           text=True, timeout=TIMEOUT_S)
        if r.returncode != 0:
            return f"crashed (exit {r.returncode})", float("nan"), 0
        out, took, peak = r.stdout.strip().split("\t")
        return out, float(took), int(peak)
    except subprocess.TimeoutExpired:
        return f"no answer in {TIMEOUT_S} s (killed)", float(TIMEOUT_S), 0


print(f"lake {LAKE}; memory limit {LIMIT_MB} MiB for both engines; a fresh process per query")
print(f"{'query':<30} | {'tollgate serve: answer':<28} {'time':>7} {'RSS idle':>9} {'peak':>7} | {'duckdb: answer':<40} {'time':>7} {'peak':>7}")
for name, sql in QUERIES:
    o, t, base, peak = tollgate(sql)
    d_o, d_t, d_peak = duckdb(sql)
    print(f"{name:<30} | {o:<28} {t:6.2f}s {base:7d}MB {peak:5d}MB | {d_o:<40.40} {d_t:6.2f}s {d_peak:5d}MB", flush=True)
