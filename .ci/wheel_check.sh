#!/usr/bin/env bash
# The built wheel is what users install: build the sdist and the wheel (the wheel from the sdist),
# `twine check` both, check the sdist holds the tests, the docs and the node files, install the
# wheel into a fresh virtualenv in a temporary directory outside the checkout, and run a small
# user project there (the README quickstart's files) with `python -m unittest`, twice: first with
# an empty cache (PGlite's npm packages are installed from the registry), then offline (npm may
# not reach any registry: everything comes from the cache the first run filled).
#
# Run from .ci/run inside its virtualenv; on its own: .venv/bin/python -m pip install build twine,
# then `. .venv/bin/activate && bash .ci/wheel_check.sh`.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true
cd "$(dirname "$0")/.."
ROOT="$PWD"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
case "$WORK/" in "$ROOT"/*) echo "the temporary directory $WORK is inside the checkout" >&2; exit 1 ;; esac

echo "=== wheel check: python -m build, twine check"
python -m pip install --quiet build twine
python -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
SDIST="$(ls "$WORK"/dist/*.tar.gz)"
WHEEL="$(ls "$WORK"/dist/*.whl)"
python -m twine check --strict "$SDIST" "$WHEEL"

echo "=== wheel check: the sdist holds the tests, the docs, the examples and the node files"
tar -tzf "$SDIST" | sed 's|^[^/]*/||' >"$WORK/sdist.txt"
missing=0
for path in $(git ls-files pglite_testcase tests docs examples README.md CHANGELOG.md setup.cfg pyproject.toml); do
    grep -qxF "$path" "$WORK/sdist.txt" || { echo "not in the sdist: $path" >&2; missing=1; }
done
[ "$missing" = 0 ]
python -m zipfile -l "$WHEEL" | tail -n +2 | awk '{print $1}' >"$WORK/wheel.txt"
for path in pglite_testcase/py.typed pglite_testcase/node/server.js pglite_testcase/node/pg17/package-lock.json \
    pglite_testcase/node/pg18/package-lock.json; do
    grep -qxF "$path" "$WORK/wheel.txt" || { echo "not in the wheel: $path" >&2; exit 1; }
done
if grep -q "^pglite_testcase/node/test" "$WORK/wheel.txt"; then
    echo "the node server's tests are in the wheel" >&2
    exit 1
fi
echo "sdist: $(wc -l <"$WORK/sdist.txt") files; wheel: $(wc -l <"$WORK/wheel.txt") files"

echo "=== wheel check: the wheel in a fresh virtualenv, outside the checkout"
python -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
if command -v node >/dev/null 2>&1; then
    "$WORK/venv/bin/python" -m pip install --quiet "$WHEEL"
else
    "$WORK/venv/bin/python" -m pip install --quiet "$WHEEL[node]"
fi

# A small user project: the README quickstart's files, as a reader saves them.
mkdir "$WORK/project"
python - "$ROOT/README.md" "$WORK/project" <<'PY'
import re, sys
from pathlib import Path

readme, project = Path(sys.argv[1]).read_text(), Path(sys.argv[2])
for name in ("test_quickstart.py", "test_async_quickstart.py"):
    found = re.search(r"<!-- example: " + re.escape(name) + r"[^>]*-->\n```python\n(.*?)\n```", readme, re.S)
    if found is None:
        sys.exit(f"the README has no example {name}")
    (project / name).write_text(found[1] + "\n")
    print(f"{name}: {found[1].count(chr(10)) + 1} lines from the README")
PY

cd "$WORK/project"
export PGLITE_TESTCASE_CACHE_DIR="$WORK/cache"  # empty: the first run installs PGlite's packages
unset PGLITE_TESTCASE_DATABASE_URL
"$WORK/venv/bin/python" - <<'PY'
import sys
import pglite_testcase

if not pglite_testcase.__file__.startswith(sys.prefix):
    sys.exit(f"pglite_testcase was imported from {pglite_testcase.__file__}, not from the wheel's virtualenv")
print(f"pglite_testcase from {pglite_testcase.__file__}")
PY

echo "=== wheel check: first run, empty cache ($PGLITE_TESTCASE_CACHE_DIR)"
[ ! -e "$PGLITE_TESTCASE_CACHE_DIR" ]
"$WORK/venv/bin/python" -m unittest -v
"$WORK/venv/bin/python" -m pglite_testcase cache info

# Offline: no registry (an unreachable one, and npm told not to try) and an empty npm cache of
# npm's own, so the only source of PGlite's packages is the cache the first run filled.
offline() {
    npm_config_offline=true npm_config_registry=http://127.0.0.1:9/ npm_config_cache="$WORK/npm-cache" "$@"
}
echo "=== wheel check: offline, these settings do keep npm from installing anything (an empty cache fails)"
if PGLITE_TESTCASE_CACHE_DIR="$WORK/empty-cache" offline "$WORK/venv/bin/python" -m pglite_testcase install \
    --postgres-version 17 >"$WORK/offline-install.log" 2>&1; then
    cat "$WORK/offline-install.log"
    echo "an install from an empty cache worked offline: the offline settings do not hold" >&2
    exit 1
fi
tail -n 3 "$WORK/offline-install.log" | cut -c1-300

echo "=== wheel check: second run, offline, from the cache the first run filled"
offline "$WORK/venv/bin/python" -m unittest -v
echo "=== wheel check: passed"
