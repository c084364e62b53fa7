#!/usr/bin/env bash
# Run ComfyUI's own integration suite (tests/execution, contract §13.1) against comfy-core's server.
#
# ComfyUI's test code is NOT part of this repository. It lives in a harness folder outside the repo
# ($COMFY_CONFORMANCE_DIR, default /work/comfy-conformance) laid out like a ComfyUI checkout:
#
#   pytest.ini                                   ComfyUI  pytest.ini
#   tests/conftest.py                            ComfyUI  tests/conftest.py (--output_dir/--listen/--port/--skip-timing-checks)
#   tests/execution/extra_model_paths.yaml       ComfyUI  (custom_nodes: testing_nodes)
#   tests/execution/test_execution.py            ComfyUI  commit 01e7afbc9b9bc4496bfcfdbcbf861b08660bb81b (newest stored; superset of v0.8.0's)
#   tests/execution/test_async_nodes.py          ComfyUI  commit e7a4247fc370338827a52ea35159847b9515826f
#   tests/execution/test_public_api.py           ComfyUI  (only stored version)
#   tests/execution/test_progress_isolation.py   ComfyUI  (only stored version)
#   tests/execution/test_jobs.py                 ComfyUI  commit 048c413adc0a4f07b070288cc8d4f3dba50b43c9 (pre-v0.8.0 draft of the jobs API)
#   tests/execution/testing_nodes/testing-pack/  ComfyUI  __init__ specific_tests flow_control util conditions stubs tools
#                                                         async_test_nodes api_test_nodes (util.py's GraphBuilder import
#                                                         points at comfy_execution.graph_utils, as in current ComfyUI)
#
# Fetch those with any copy of comfyanonymous/ComfyUI (git checkout of the same paths), unchanged.
# This script writes only the three comfy-core shims the harness needs (our own code):
#   main.py                       runs $COMFY_CORE_ROOT/main.py with the fixtures' argv, a fresh --user-directory per
#                                 launch (ComfyUI's history is in memory; ours is durable SQLite), and the harness folder
#                                 removed from sys.path so the test pack imports ComfyUI names through comfy_core.compat
#   comfy_execution/graph_utils.py  client-side GraphBuilder/Node/is_link = comfy_core.graph
#   comfy_execution/jobs.py         comfy_core.queue.jobs (for test_jobs.py)
#
# Usage: tools/run_comfy_conformance.sh [pytest args...]      e.g.  -k "not parallel_sleep"   --skip-timing-checks
# Env:   COMFY_CONFORMANCE_DIR, COMFY_CONFORMANCE_PORT (default: a free port), COMFY_CORE_ROOT (default: this repo)
# Output: pytest's report, then per-file passed/failed/skipped counts (from a JUnit XML file in the output dir).
# Needs ~4-8 min on 2 CPU cores (each fixture server start waits 4 s; several tests sleep 3-5 s by design).
set -euo pipefail

COMFY_CORE_ROOT="${COMFY_CORE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
HARNESS="${COMFY_CONFORMANCE_DIR:-/work/comfy-conformance}"
PY="$COMFY_CORE_ROOT/.venv/bin/python"
export COMFY_CORE_ROOT

missing=0
for f in pytest.ini tests/conftest.py tests/execution/extra_model_paths.yaml tests/execution/test_execution.py \
    tests/execution/testing_nodes/testing-pack/__init__.py; do
    if [ ! -f "$HARNESS/$f" ]; then echo "missing $HARNESS/$f (copy it from ComfyUI, see the header)" >&2; missing=1; fi
done
[ "$missing" = 0 ] || exit 2

mkdir -p "$HARNESS/comfy_execution"
: > "$HARNESS/comfy_execution/__init__.py"
cat > "$HARNESS/comfy_execution/graph_utils.py" <<'EOF'
"""Client-side stand-in for ComfyUI's comfy_execution/graph_utils.py: comfy-core's own GraphBuilder."""
from comfy_core.graph.builder import GraphBuilder, Node, add_graph_prefix  # noqa: F401
from comfy_core.graph.links import ExecutionBlocker, is_link  # noqa: F401
EOF
cat > "$HARNESS/comfy_execution/jobs.py" <<'EOF'
"""Stand-in for ComfyUI's comfy_execution/jobs.py: comfy-core's own jobs helpers (tests/execution/test_jobs.py)."""
from comfy_core.queue.jobs import *  # noqa: F401,F403
EOF
cat > "$HARNESS/main.py" <<'EOF'
"""Starts comfy-core's server in place of ComfyUI's main.py, with the same argv (see tools/run_comfy_conformance.sh)."""
import os
import runpy
import sys
import tempfile

COMFY_CORE = os.environ.get("COMFY_CORE_ROOT", "/work/main")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
sys.path.insert(0, COMFY_CORE)
if "--user-directory" not in sys.argv and os.environ.get("COMFY_CONFORMANCE_SHARED_USER") != "1":
    users = os.environ.get("COMFY_CONFORMANCE_USERS", "/tmp/comfy-conformance-users")
    os.makedirs(users, exist_ok=True)
    sys.argv += ["--user-directory", tempfile.mkdtemp(prefix="user-", dir=users)]
sys.argv[0] = os.path.join(COMFY_CORE, "main.py")
runpy.run_path(sys.argv[0], run_name="__main__")
EOF

PORT="${COMFY_CONFORMANCE_PORT:-$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
OUT="$(mktemp -d /tmp/comfy-conformance-out.XXXXXX)"
export COMFY_CONFORMANCE_USERS="$OUT/users"
# The fixtures run `python main.py ...`: `python` must be our venv's interpreter.
export PATH="$COMFY_CORE_ROOT/.venv/bin:$PATH"
export PYTHONPATH="$COMFY_CORE_ROOT:$HARNESS${PYTHONPATH:+:$PYTHONPATH}"

cd "$HARNESS"
set +e
"$PY" -m pytest tests/execution -p no:cacheprovider --output_dir "$OUT/samples" --port "$PORT" \
    --junitxml "$OUT/junit.xml" -rfE -q "$@"
rc=$?
set -e
"$PY" - "$OUT/junit.xml" <<'EOF'
import collections
import sys
import xml.etree.ElementTree as ET

counts = collections.defaultdict(collections.Counter)
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    name = case.get("classname", "").split(".")[2] if case.get("classname", "").count(".") >= 2 else "?"
    kind = "passed"
    for child in case:
        if child.tag in ("failure", "error"):
            kind = "failed"
        elif child.tag == "skipped":
            kind = "skipped"
    counts[name][kind] += 1
for name in sorted(counts):
    c = counts[name]
    print(f"{name:32s} passed {c['passed']:4d}  failed {c['failed']:4d}  skipped {c['skipped']:4d}")
EOF
echo "outputs and junit.xml in $OUT"
exit $rc
