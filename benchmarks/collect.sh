#!/usr/bin/env bash
# Gathers the latest benchmark tables (benchmarks/results/*.md) into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Benchmarks"
  echo
  echo "Each table is written by one script in \`benchmarks/\`, which runs cairn and the tools"
  echo "people would use instead side by side in one run on one machine (2 cores, no GPU)."
  echo "Install the anchors with \`pip install -r benchmarks/requirements.txt\`, run e.g."
  echo "\`python benchmarks/bench_metrics.py\`, then \`bash benchmarks/collect.sh\`."
  echo "Targets that are not met say so; see the closing notes of the issues for why. Tables"
  echo "carry the machine they were measured on: sessions get different machines (AMD EPYC,"
  echo "Intel Xeon), and a run on one is not comparable with a run on the other. These are"
  echo "shared virtual machines: a re-run can move a number by a third, so where a target is"
  echo "close (the local round trip, cairn on Ray) the issue's closing note gives the spread"
  echo "over several runs."
  for name in metrics arrays frames lineage steps compute tune tune_overhead models serve auth_cost \
    ui rl rl_steps mlflow_api mlflow_import; do
    echo
    sed 's/^# /### /' "benchmarks/results/$name.md"
  done
} > docs/benchmarks.md
