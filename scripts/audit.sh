#!/usr/bin/env bash
# Dependency audit of the lock: export uv.lock (every group, no hashes) as requirements, ask
# pip-audit about each pinned package, and decide with scripts/audit.py against the written
# ignore list security/audit-ignore.toml (every ignored id needs a reason).
#
#   scripts/audit.sh            fail on a vulnerability without a written reason
#   AUDIT_STRICT=1 scripts/audit.sh
#                               also fail when some packages could not be audited (service unreachable)
#
# The report (pip-audit JSON) and the exported requirements stay in $AUDIT_DIR (default .audit/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
UV=${UV:-$ROOT/.tools/bin/uv}
BIN=${AUDIT_VENV_BIN:-$ROOT/.venv/bin}
OUT=${AUDIT_DIR:-$ROOT/.audit}
STRICT=${AUDIT_STRICT:-0}
mkdir -p "$OUT"
[[ -f $OUT/.gitignore ]] || echo '*' >"$OUT/.gitignore"

"$UV" export --project "$ROOT" --frozen --all-groups --no-emit-project --no-hashes \
    --format requirements-txt --quiet --output-file "$OUT/requirements.txt"
packages=$(grep -cE '^[A-Za-z0-9]' "$OUT/requirements.txt" || true)
echo "exported $packages pinned packages from uv.lock to $OUT/requirements.txt"
echo "(pip-audit checks the pins whose environment markers match this machine's Python and platform)"

rm -f "$OUT/pip-audit.json"
set +e
"$BIN/pip-audit" -r "$OUT/requirements.txt" --no-deps --disable-pip -s pypi --progress-spinner off \
    --format json --output "$OUT/pip-audit.json" 2>"$OUT/pip-audit.log"
status=$?
set -e

# pip-audit exits 1 when it finds vulnerabilities: the decision is audit.py's, from the report.
if [[ ! -s $OUT/pip-audit.json ]]; then
    tail -n 20 "$OUT/pip-audit.log" >&2
    echo "!! pip-audit wrote no report (exit $status): NONE of the $packages packages was audited" >&2
    [[ $STRICT == 1 ]] && exit 1
    echo "!! not failing because AUDIT_STRICT is not 1" >&2
    exit 0
fi
strict=()
[[ $STRICT == 1 ]] && strict=(--strict)
exec "$BIN/python" "$ROOT/scripts/audit.py" "$OUT/pip-audit.json" \
    --ignore "$ROOT/security/audit-ignore.toml" "${strict[@]}"
