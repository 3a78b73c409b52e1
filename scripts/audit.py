"""Decide a dependency audit from pip-audit's JSON report and the written ignore list.

    python scripts/audit.py REPORT.json [--ignore security/audit-ignore.toml] [--strict]

Exit 0 when no vulnerability is found that lacks a written reason in the ignore list; exit 1
otherwise. Packages the vulnerability service did not answer for are counted and named loudly;
they fail the audit only with `--strict` (AUDIT_STRICT=1 in scripts/audit.sh), because a machine
that cannot reach the service would otherwise never pass.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_IGNORE = Path(__file__).resolve().parents[1] / "security" / "audit-ignore.toml"


@dataclass(frozen=True)
class Finding:
    """One vulnerability of one locked package."""

    package: str
    version: str
    vuln_id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    @property
    def ids(self) -> set[str]:
        """The id and every alias (PYSEC, GHSA, CVE): an ignore entry may name any of them."""
        return {self.vuln_id, *self.aliases}


@dataclass
class Verdict:
    """What the audit found and whether it passes."""

    audited: list[str] = field(default_factory=list)
    not_audited: list[str] = field(default_factory=list)
    ignored: list[tuple[Finding, str]] = field(default_factory=list)
    unreasoned: list[Finding] = field(default_factory=list)
    bad_ignores: list[str] = field(default_factory=list)
    strict: bool = False

    @property
    def passed(self) -> bool:
        """No unreasoned vulnerability, no malformed ignore entry, and (strict) every package audited."""
        return not self.unreasoned and not self.bad_ignores and not (self.strict and self.not_audited)


def load_ignores(path: Path) -> tuple[dict[str, str], list[str]]:
    """Ignored ids with their reasons, and a complaint for every entry without an id or a reason."""
    if not path.is_file():
        return {}, []
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("ignore", [])
    reasons: dict[str, str] = {}
    bad: list[str] = []
    for number, entry in enumerate(entries, start=1):
        vuln_id = str(entry.get("id", "")).strip()
        reason = str(entry.get("reason", "")).strip()
        if not vuln_id or not reason:
            bad.append(f"{path.name} entry {number} ({vuln_id or 'no id'}): every ignored id needs a written reason")
            continue
        reasons[vuln_id] = reason
    return reasons, bad


def decide(report: dict[str, Any], reasons: dict[str, str], *, strict: bool = False) -> Verdict:
    """Sort pip-audit's `dependencies` into audited / not audited, and findings into ignored / unreasoned."""
    verdict = Verdict(strict=strict)
    dependencies = report.get("dependencies")
    if not isinstance(dependencies, list):
        raise ValueError("not a pip-audit JSON report: no 'dependencies' list")
    for dep in dependencies:
        name = f"{dep['name']}=={dep.get('version') or _skipped_version(dep)}"
        if "skip_reason" in dep:
            verdict.not_audited.append(name)
            continue
        verdict.audited.append(name)
        for vuln in dep.get("vulns", []):
            finding = Finding(
                dep["name"],
                str(dep.get("version", "?")),
                vuln["id"],
                tuple(vuln.get("aliases", [])),
                tuple(vuln.get("fix_versions", [])),
            )
            reason = next((reasons[i] for i in sorted(finding.ids) if i in reasons), None)
            if reason is None:
                verdict.unreasoned.append(finding)
            else:
                verdict.ignored.append((finding, reason))
    return verdict


def _skipped_version(dep: dict[str, Any]) -> str:
    """pip-audit leaves the version out of a skipped package; its reason ends with it: `... name (1.2.3)`."""
    found = re.search(r"\(([^()]+)\)\s*$", str(dep.get("skip_reason", "")))
    return found.group(1) if found else "?"


def describe(verdict: Verdict) -> str:
    """The audit's summary for a person: counts first, then what needs action."""
    total = len(verdict.audited) + len(verdict.not_audited)
    lines = [f"dependency audit: {total} locked packages, {len(verdict.audited)} audited, "]
    lines[0] += f"{len(verdict.not_audited)} NOT audited"
    if verdict.not_audited:
        lines += [
            "",
            "!" * 78,
            f"!! {len(verdict.not_audited)} of {total} packages could NOT be audited: the vulnerability service did",
            "!! not answer for them (offline machine, blocked service, or a package it does not know).",
            "!! Their vulnerabilities are UNKNOWN. Re-run where the service is reachable; AUDIT_STRICT=1 fails here.",
            "!" * 78,
            "not audited: " + ", ".join(verdict.not_audited[:10]) + (" ..." if len(verdict.not_audited) > 10 else ""),
        ]
    for finding, reason in verdict.ignored:
        lines.append(f"ignored   {finding.package} {finding.version} {finding.vuln_id}: {reason}")
    for finding in verdict.unreasoned:
        fix = ", ".join(finding.fix_versions) or "none published"
        lines.append(
            f"VULNERABLE {finding.package} {finding.version} {finding.vuln_id} (fixed in: {fix}); "
            "upgrade it, or add the id with a written reason to security/audit-ignore.toml"
        )
    lines += [f"ERROR     {complaint}" for complaint in verdict.bad_ignores]
    if not verdict.passed:
        why = [f"{len(verdict.unreasoned)} vulnerabilities without a written reason"] if verdict.unreasoned else []
        why += [f"{len(verdict.bad_ignores)} ignore entries without an id or reason"] if verdict.bad_ignores else []
        why += (
            [f"strict, and {len(verdict.not_audited)} packages not audited"]
            if verdict.strict and verdict.not_audited
            else []
        )
        lines.append("audit FAILED: " + "; ".join(why))
    elif verdict.not_audited:
        lines.append(
            f"audit passed for the {len(verdict.audited)} audited packages only: {len(verdict.not_audited)} are "
            "UNKNOWN (set AUDIT_STRICT=1 to fail on that)"
        )
    else:
        lines.append("audit passed: every package audited, no vulnerability without a written reason")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Read the report and the ignore list, print the verdict, return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="pip-audit --format json output")
    parser.add_argument("--ignore", type=Path, default=DEFAULT_IGNORE, help="ignore list (TOML)")
    parser.add_argument("--strict", action="store_true", help="fail when any package could not be audited")
    args = parser.parse_args(argv)
    reasons, bad = load_ignores(args.ignore)
    verdict = decide(json.loads(args.report.read_text(encoding="utf-8")), reasons, strict=args.strict)
    verdict.bad_ignores = bad
    print(describe(verdict))
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
