#!/usr/bin/env bash
# One command from a fresh clone: install (scripts/setup.sh), then run the quickstart sweep on mnist1d
# and the collector on its records.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$(date +%s)
.venv/bin/python -m bench.run -m experiment=quickstart "$@"
root=${BENCH_HOME:-outputs}/quickstart
echo
echo "quickstart finished in $(( $(date +%s) - start )) s"
echo "records: $root/records"
[ -d "$root/records/collect" ] && echo "report:  $root/records/collect/report.html"
exit 0
