import cProfile, pstats, sys, time
sys.path.insert(0, "benchmarks")
import bench_scale as b
from pathlib import Path
t=time.perf_counter()
pr = cProfile.Profile(); pr.enable()
b.run_abkit(Path("benchmarks/data")/sys.argv[1])
pr.disable()
print("total", time.perf_counter()-t)
st = pstats.Stats(pr); st.sort_stats("cumulative").print_stats(45)
