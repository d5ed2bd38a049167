#!/usr/bin/env bash
# Run the quick benchmark suite against the committed baseline; fail on a regression.
#
#   examples/ci/bench.sh                       # from the repository root, after `make setup`
#   BASELINE=my-baseline.json examples/ci/bench.sh
#
# Writes out/bench.json (this run) and out/bench.md (the comparison, for a pull-request
# comment). Exit 0: no row regressed; 1: a row regressed (named on stderr); 2: bad input
# (e.g. the baseline is of another suite or lacks a row: make a new one with
#  .venv/bin/phasewise bench --suite quick --json examples/ci/baseline-quick.json).
set -eu
cd "$(dirname "$0")/../.."
BASELINE="${BASELINE:-examples/ci/baseline-quick.json}"
mkdir -p out
.venv/bin/phasewise bench --suite quick --json out/bench.json \
    --baseline "$BASELINE" --markdown out/bench.md --tolerance "${TOLERANCE:-3%}"
