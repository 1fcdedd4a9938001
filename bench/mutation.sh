#!/usr/bin/env bash
# Mutation check of the core rules (docs/mutation.md): mutmut mutates watermark, due, leases,
# timing, certifications, matching and bulk ([tool.mutmut] in pyproject.toml), runs the tests
# of that rule against each mutant, and lists the survivors. Slow (1,186 mutants: 44 minutes on
# 2 idle cores), so not in CI: run it before changing these rules, then compare its survivors
# with docs/mutation.md.
# Needs MariaDB as the tests do. Usage: bash bench/mutation.sh [--max-children N]
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || { echo "no .venv: python3 -m venv .venv && .venv/bin/pip install -e '.[dev,mutation]'" >&2; exit 2; }
"$python" -c "import mutmut" 2>/dev/null || { echo "mutmut is missing: .venv/bin/pip install -e '.[mutation]'" >&2; exit 2; }
rm -rf mutants
CI=true .venv/bin/mutmut run "$@" > mutation-run.log 2>&1 || true  # CI=true: fixed hypothesis examples
.venv/bin/mutmut results --all true > mutation-results.txt
if ! grep -q ": killed" mutation-results.txt; then
  echo "mutmut checked no mutant; the end of mutation-run.log says why:" >&2
  tail -n 20 mutation-run.log >&2
  exit 1
fi
survivors=$(grep -c ": survived" mutation-results.txt || true)
echo "mutants: $(grep -c ': ' mutation-results.txt), killed: $(grep -c ': killed' mutation-results.txt || true), survived: $survivors"
grep ": survived\|: timeout\|: suspicious\|: no tests" mutation-results.txt || true
echo "(each survivor: .venv/bin/mutmut show NAME; the list is in mutation-results.txt)"
