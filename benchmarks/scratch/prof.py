import sys, time
t=time.perf_counter()
import abkit as ab
print("import", time.perf_counter()-t)
from pathlib import Path
size=sys.argv[1]
folder=Path("benchmarks/data")/size
AS_OF = "2024-04-15T00:00:00Z"
HEADLINE=(1,7,30)
metrics = [ab.Retention(day=d) for d in HEADLINE]
metrics += [ab.Retention(day=d, name=f"curve_d{d}") for d in range(31)]
exp = ab.Experiment(metrics=metrics, control="control", segments=["channel"])
t=time.perf_counter()
sql = exp.to_sql(exposures=folder/"exposures.parquet", events=folder/"events.parquet", as_of=AS_OF)
print("to_sql", time.perf_counter()-t)
open(f"benchmarks/scratch/abkit_{size}.sql","w").write(sql)
if len(sys.argv)>2:
    t=time.perf_counter()
    res = exp.analyze(exposures=folder/"exposures.parquet", events=folder/"events.parquet", as_of=AS_OF)
    print("analyze", time.perf_counter()-t)
