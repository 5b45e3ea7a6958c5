#!/usr/bin/env bash
# Mutation testing of stress/ and iommu/invariants.py with mutmut 3.8, configured in
# pyproject.toml [tool.mutmut]. Run from anywhere; it works in the repository root.
#
#   bench/mutation.sh                    # the whole run, then the score per file
#   bench/mutation.sh 'stress.streams.*' 'stress.strategies.*'
#                                        # (re)test only these mutants (fnmatch globs)
#   bench/mutation.sh --retest [GLOB..]  # re-test the survivors, e.g. after adding tests
#   bench/mutation.sh --sample N [GLOB..]  # test N mutants drawn at random (seed 0): the
#                                        # score of a sample estimates the whole run's
#   bench/mutation.sh --score [GLOB..]   # the score of what mutants/ holds
#   bench/mutation.sh --survivors [GLOB..]  # the surviving mutants with their diffs
#   bench/mutation.sh --fresh [...]      # delete mutants/ first, then as above
#
# mutmut copies the code into mutants/ and runs pytest there; tests.helpers.ROOT is then
# mutants/. mutmut only maps a function to the tests that call it in their own process,
# so under mutmut tests.helpers.cli runs the CLI in-process; code run only in another
# process (a sweep worker's seeds) is reported "no tests" (shown apart from the
# score). The first run (or --fresh) starts
# with one instrumented pass of the whole suite (~10-15 min on 2 cores) that records
# this map; each mutant then runs only its tests, fastest first, stopping at the first
# failure: ~0.2 s for a killed mutant, the whole of its tests for a survivor (up to
# ~1-2 min for code every run goes through: runtime, run, invariants).
# Verdicts are kept in mutants/ and only mutants of functions whose source changed are
# re-tested: after editing tests or configs, use --retest (survivors) or --fresh (all).
# Plain mutmut works too: `mutmut results`, `mutmut show NAME`, `mutmut browse`.
#
# Environment: JOBS (parallel mutants, default 2), LIMIT (seconds, default 10800): the
# run is then interrupted (as by Ctrl-C: finished verdicts are kept; run again to resume).
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
    --sample)
        n=$2; shift 2
        # The mutants are named only once generated: the first run generates them and
        # maps the tests (a pattern that names no mutant tests none).
        [ -d mutants ] || run 'no.mutant.has.this.name'
        mapfile -t names < <(python bench/mutation_report.py --sample "$n" "$@")
        if [ "${#names[@]}" -eq 0 ]; then echo "no mutants to sample"; exit 1; fi
        run "${names[@]}"
        python bench/mutation_report.py "${names[@]}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *)
        run "$@"
        python bench/mutation_report.py "$@" ;;
esac
