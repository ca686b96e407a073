#!/usr/bin/env bash
# The benchmark report (issue 7): Swiftness vs tgt and vs raw Swift, one command. See README.md
# here; `tests/bench/run-report.sh --help` lists the options.
#
#   tests/bench/run-report.sh [--build DIR] [--mode tiny|quick|full] [--out DIR] [...]
exec python3 "$(dirname "$0")/report/run_report.py" "$@"
