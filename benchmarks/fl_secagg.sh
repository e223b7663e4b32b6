#!/bin/bash
# Usage: benchmarks/fl_secagg.sh  (from anywhere; needs the fl extra). Timings are noisy on a shared box: compare the ratio within one run.
# SecAgg+ vs plain rounds, same job (client clipping), same run; mean round time from privgate fl run's per-round lines
cd "$(dirname "$0")/.."
for sa in false true; do
  sed "s/secure_aggregation: false/secure_aggregation: $sa/; s/clipping: server/clipping: client/" examples/federated/job.yaml > examples/federated/_bench_$sa.yaml
done
for rep in 1 2; do for sa in false true; do
  .venv/bin/privgate fl run examples/federated/_bench_$sa.yaml --rounds 8 2>/dev/null | grep -v "INFO\|WARN" > "${TMPDIR:-/tmp}"/fl_secagg_out_$sa.txt
  python3 - "$sa" <<'PY'
import os,re,sys
t=open(os.environ.get("TMPDIR", "/tmp") + f"/fl_secagg_out_{sys.argv[1]}.txt").read()
r=[float(x) for x in re.findall(r"round=([\d.]+)ms ok", t)]
acc=re.search(r"governed DP federated ([\d.]+)", t).group(1)
print(f"secagg={sys.argv[1]} rounds={len(r)} mean_round_ms={sum(r)/len(r):.1f} final_acc={acc}")
PY
done; done
rm -f examples/federated/_bench_*.yaml
