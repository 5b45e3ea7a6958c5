#!/usr/bin/env bash
# Mutation testing of stress/ and iommu/invariants.py with mutmut 3.8, configured in
# pyproject.toml [tool.mutmut]. Run from anywhere; it works in the repository root.
#
#   bench/mutation.sh                    # the whole run, then the score per file
#   bench/mutation.sh 'stress.streams.*' 'stress.strategies.*'
#                                        # (re)test only these mutants (fnmatch globs)
#   bench/mutation.sh --retest [GLOB..]  # re-test the survivors, e.g. after adding tests
#   bench/mutation.sh --score [GLOB..]   # the score of what mutants/ holds
#   bench/mutation.sh --survivors [GLOB..]  # the surviving mutants with their diffs
#   bench/mutation.sh --fresh [...]      # delete mutants/ first, then as above
#
# mutmut copies the code into mutants/ and runs pytest there; tests.helpers.ROOT is then
# mutants/, so the CLI subprocesses run the mutated copy too. It keeps verdicts in
# mutants/ and re-tests only functions whose source changed: after editing tests or
# configs, use --retest (survivors only) or --fresh (everything).
# The first run (or --fresh) starts with one instrumented pass of the whole suite
# (~5-10 min) that maps each function to the tests that reach it; mutants are then run
# against those tests only, fastest first, stopping at the first failure.
#
# Environment: JOBS (parallel mutants, default 2), LIMIT (seconds, default 10800): the
# run is interrupted (Ctrl-C, which keeps finished verdicts; run again to resume) after it.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${JOBS:-2}
LIMIT=${LIMIT:-10800}

run() {
    local start=$SECONDS rc=0
    # timeout signals its whole process group (mutmut, its forks, their subprocesses).
    timeout -s INT -k 60 "$LIMIT" mutmut run --max-children "$JOBS" "$@" || rc=$?
    echo
    echo "mutmut run: exit $rc after $((SECONDS - start)) s"
    return 0
}

case "${1:-}" in
    --fresh) rm -rf mutants; shift; exec "$0" "$@" ;;
    --score) shift; exec python bench/mutation_report.py "$@" ;;
    --survivors) shift; exec python bench/mutation_report.py --survivors "$@" ;;
    --retest)
        shift
        mapfile -t names < <(python bench/mutation_report.py --names "$@")
        if [ "${#names[@]}" -eq 0 ]; then echo "no survivors"; exit 0; fi
        run "${names[@]}"
        python bench/mutation_report.py "$@" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *)
        run "$@"
        python bench/mutation_report.py "$@" ;;
esac
