#!/usr/bin/env bash
# Mutation check of the core rules (docs/mutation.md): mutmut mutates watermark, due, leases,
# timing, certifications, matching and bulk ([tool.mutmut] in pyproject.toml), runs the tests
# that cover each mutant, and lists the survivors. Slow (about an hour on 2 cores), so not in
# CI: run it before changing these rules, then compare its survivors with docs/mutation.md.
# Needs MariaDB as the tests do. Usage: bash bench/mutation.sh [--max-children N]
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
[ -x "$python" ] || { echo "no .venv: python3 -m venv .venv && .venv/bin/pip install -e '.[dev,mutation]'" >&2; exit 2; }
"$python" -c "import mutmut" 2>/dev/null || { echo "mutmut is missing: .venv/bin/pip install -e '.[mutation]'" >&2; exit 2; }
rm -rf mutants
CI=true .venv/bin/mutmut run "$@" >/dev/null 2>&1 || true  # CI=true: hypothesis explores fixed examples
.venv/bin/mutmut results --all true > mutation-results.txt
survivors=$(grep -c ": survived" mutation-results.txt || true)
echo "mutants: $(grep -c ': ' mutation-results.txt), killed: $(grep -c ': killed' mutation-results.txt || true), survived: $survivors"
grep ": survived\|: timeout\|: suspicious\|: no tests" mutation-results.txt || true
echo "(each survivor: .venv/bin/mutmut show NAME; the list is in mutation-results.txt)"
