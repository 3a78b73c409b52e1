"""The dependency audit's decision (scripts/audit.py) on sample pip-audit JSON reports."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit.py"
_spec = importlib.util.spec_from_file_location("audit", SCRIPT)
assert _spec is not None and _spec.loader is not None
audit = importlib.util.module_from_spec(_spec)
sys.modules["audit"] = audit  # dataclasses look their module up while the class is built
_spec.loader.exec_module(audit)

# One package audited with two vulnerabilities (one ignored through its GHSA alias, one not),
# one clean, and two the service did not answer for (as on a machine that cannot reach it).
REPORT = {
    "dependencies": [
        {
            "name": "werkzeug",
            "version": "3.0.0",
            "vulns": [
                {"id": "PYSEC-2024-1", "aliases": ["GHSA-aaaa-bbbb-cccc"], "fix_versions": ["3.0.3"]},
                {"id": "GHSA-dddd-eeee-ffff", "aliases": ["CVE-2024-9"], "fix_versions": []},
            ],
        },
        {"name": "six", "version": "1.16.0", "vulns": []},
        {"name": "numpy", "skip_reason": "Dependency not found on PyPI and could not be audited: numpy (2.4.6)"},
        {"name": "pandas", "skip_reason": "Dependency not found on PyPI and could not be audited: pandas (3.1.1)"},
    ],
    "fixes": [],
}

IGNORES = """
[[ignore]]
id = "GHSA-aaaa-bbbb-cccc"
package = "werkzeug"
reason = "Only the debugger is affected, and it is never enabled."
"""


def write(tmp_path: Path, report: dict[str, object], ignores: str) -> tuple[Path, Path]:
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    (tmp_path / "ignore.toml").write_text(ignores, encoding="utf-8")
    return tmp_path / "report.json", tmp_path / "ignore.toml"


def test_sorts_packages_and_findings():
    verdict = audit.decide(REPORT, {"GHSA-aaaa-bbbb-cccc": "debugger only"})
    assert verdict.audited == ["werkzeug==3.0.0", "six==1.16.0"]
    assert verdict.not_audited == ["numpy==2.4.6", "pandas==3.1.1"]
    assert [(f.vuln_id, reason) for f, reason in verdict.ignored] == [("PYSEC-2024-1", "debugger only")]
    assert [f.vuln_id for f in verdict.unreasoned] == ["GHSA-dddd-eeee-ffff"]
    assert not verdict.passed


def test_an_unreasoned_vulnerability_fails_and_is_named(tmp_path, capsys):
    report, ignores = write(tmp_path, REPORT, IGNORES)
    assert audit.main([str(report), "--ignore", str(ignores)]) == 1
    out = capsys.readouterr().out
    assert "4 locked packages, 2 audited, 2 NOT audited" in out
    assert "ignored   werkzeug 3.0.0 PYSEC-2024-1: Only the debugger is affected" in out
    assert "VULNERABLE werkzeug 3.0.0 GHSA-dddd-eeee-ffff (fixed in: none published)" in out
    assert "audit FAILED: 1 vulnerabilities without a written reason" in out


def test_every_vulnerability_with_a_reason_passes_but_says_what_was_not_audited(tmp_path, capsys):
    reasoned = IGNORES + '\n[[ignore]]\nid = "CVE-2024-9"\nreason = "Affects Windows paths only."\n'
    report, ignores = write(tmp_path, REPORT, reasoned)
    assert audit.main([str(report), "--ignore", str(ignores)]) == 0
    out = capsys.readouterr().out
    assert "2 of 4 packages could NOT be audited" in out
    assert "numpy==2.4.6, pandas==3.1.1" in out
    assert "audit passed for the 2 audited packages only: 2 are UNKNOWN" in out
    # Strict: packages the service did not answer for fail the audit.
    assert audit.main([str(report), "--ignore", str(ignores), "--strict"]) == 1
    assert "strict, and 2 packages not audited" in capsys.readouterr().out


def test_an_ignore_entry_without_a_reason_does_not_count(tmp_path, capsys):
    unreasoned = '[[ignore]]\nid = "GHSA-dddd-eeee-ffff"\nreason = "  "\n' + IGNORES
    report, ignores = write(tmp_path, REPORT, unreasoned)
    assert audit.main([str(report), "--ignore", str(ignores)]) == 1
    out = capsys.readouterr().out
    assert "entry 1 (GHSA-dddd-eeee-ffff): every ignored id needs a written reason" in out
    assert "VULNERABLE werkzeug 3.0.0 GHSA-dddd-eeee-ffff" in out


def test_an_unreachable_service_passes_only_when_not_strict(tmp_path, capsys):
    offline = {"dependencies": [d for d in REPORT["dependencies"] if "skip_reason" in d], "fixes": []}
    report, ignores = write(tmp_path, offline, "")
    assert audit.main([str(report), "--ignore", str(ignores)]) == 0
    assert "audit passed for the 0 audited packages only: 2 are UNKNOWN" in capsys.readouterr().out
    assert audit.main([str(report), "--ignore", str(ignores), "--strict"]) == 1


def test_a_file_that_is_not_a_report_is_an_error():
    with pytest.raises(ValueError, match="not a pip-audit JSON report"):
        audit.decide({"something": []}, {})


def test_the_committed_ignore_list_gives_every_id_a_reason():
    reasons, bad = audit.load_ignores(audit.DEFAULT_IGNORE)
    assert audit.DEFAULT_IGNORE.is_file()
    assert bad == []
    assert all(reason.strip() for reason in reasons.values())
