import sys, time, re, duckdb
sys.path.insert(0, "benchmarks")
from pathlib import Path
import bench_scale as b
size, which = sys.argv[1], sys.argv[2]
mem = sys.argv[3] if len(sys.argv) > 3 else None
folder = Path("benchmarks/data") / size
if which == "sql":
    sums = ",\n       ".join(f"sum(coalesce((mask >> {d}) & 1, 0)) AS d{d}" for d in b.CURVE)
    q = b.SQL.format(x=folder / "exposures.parquet", e=folder / "events.parquet", as_of=b.AS_OF, sums=sums)
else:
    q = open(which).read()
    q = re.sub(r'"ibis_read_parquet_\w+"', lambda m: "__X__", q, count=0)
    # first is exposures? determine by order of appearance in original
    orig = open(which).read()
    names = list(dict.fromkeys(re.findall(r'"ibis_read_parquet_\w+"', orig)))
    # exposures view is the one used with exposed_at
    q = orig
    for n in names:
        idx = orig.index(n)
        ctx = orig[max(0, idx - 400):idx]
        f = "events" if "ts" in orig[idx:idx+300] and "exposed_at" not in ctx[-300:] else None
    # simpler: events view is the one in LEFT OUTER JOIN context; find by checking both
    for n in names:
        seg = orig[orig.index(n)-300: orig.index(n)]
        kind = "exposures" if "exposed_at" in seg or "channel" in seg else "events"
        q = q.replace(n, f"read_parquet('{folder / (kind + '.parquet')}')")
con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
if mem: con.execute(f"SET memory_limit='{mem}'")
for s in sys.argv[4:]:
    con.execute(s)
t = time.perf_counter()
if "--explain" in sys.argv or True:
    con.execute("PRAGMA enable_profiling='query_tree'") if False else None
    r = con.execute("EXPLAIN ANALYZE " + q).fetchall()
    print(r[0][1])
print("time", time.perf_counter() - t)
