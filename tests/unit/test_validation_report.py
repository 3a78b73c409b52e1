"""The validation report on disk: whole files or none, even when the disk fills up."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from lstm_pipeline.validation import ValidationReport, write_report

REPORT = ValidationReport("training", False, [], {"a": "D"}, {"success": False, "results": ["x" * 1000]})


def test_the_report_is_written_whole(tmp_path):
    write_report(REPORT, tmp_path)
    assert json.loads((tmp_path / "gx_result.json").read_text())["success"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gx_result.json", "summary.json", "summary.md"]


def test_a_full_disk_leaves_no_truncated_file(tmp_path, monkeypatch):
    real = Path.write_text

    def half_then_full(self: Path, text: str, *args: object, **kwargs: object) -> int:
        if "summary" in self.name:
            real(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(REPORT, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gx_result.json"]  # complete; nothing half-written
    assert json.loads((tmp_path / "gx_result.json").read_text())["results"] == ["x" * 1000]


def test_a_broken_rule_that_a_repair_fixes_names_the_setting():
    from lstm_pipeline.validation import RuleResult

    rules = [
        RuleResult("ds strictly increasing per series", "x", False, 1, 10),
        RuleResult("enough history (at least 41 points per series)", "x", False, 10, 10),
    ]
    message = ValidationReport("training", False, rules, {}, {}).message()
    assert "    fix: --set validation.repair.sort=true puts rows in (unique_id, ds) order" in message
    assert message.count("fix:") == 1  # no repair makes a series longer
