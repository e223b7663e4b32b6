"""PII classification of columns with Presidio: ``scan`` a source, ``review`` the suggestions.

The CLI wraps these two functions::

    privgate scan SOURCE [--tables T...] [--sample N] [--catalog DIR] [--format table|json]
        -> scan(SOURCE, tables, sample, catalog_dir, progress=RichProgress()) -> ScanReport
    privgate catalog review [--catalog DIR] [--confirm ID...] [--reject ID...] [--confirm-all]
        -> review(catalog_dir, confirm=..., reject=..., confirm_all=...) -> ReviewReport

Both reports render with ``render_table()`` and ``to_json()``/``model_dump_json()``.
"""

from __future__ import annotations

from .decide import Finding
from .progress import RichProgress
from .report import ColumnResult, DiffEntry, ScanIssue, ScanReport, ScanStats
from .review import ReviewReport, Suggestion, review
from .rules import PiiRules, default_rules, load_pii_rules
from .scanner import ProgressCallback, scan

__all__ = [
    "ColumnResult",
    "DiffEntry",
    "Finding",
    "PiiRules",
    "ProgressCallback",
    "ReviewReport",
    "RichProgress",
    "ScanIssue",
    "ScanReport",
    "ScanStats",
    "Suggestion",
    "default_rules",
    "load_pii_rules",
    "review",
    "scan",
]
