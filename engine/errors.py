"""privgate's exception tree and its stable error codes.

Every failure inside the pipeline becomes a deny whose reason carries one of the codes below, so
clients, dashboards and runbooks can key on a string that never changes between releases. Codes are
prefixed by the layer that raised them, the way OPA's are::

    PrivgateError                       base class; ``code`` is the stable string
    ├── ConfigError                     config_*      privgate.yaml / rules files are invalid
    ├── CatalogError                    catalog_*     a catalog file is invalid (file, path, reason)
    ├── AnalysisError                   analysis_*    sqlglot could not parse or qualify the SQL
    ├── PolicyError                     policy_*      evaluation failed, timed out, or was undefined
    ├── RewriteError                    rewrite_*     an obligation could not be applied safely
    ├── BudgetError                     budget_*      the ledger could not be read or charged
    └── ScanError                       scan_*        a PII scan could not read a source or a table

Adapters in ``connectors/`` translate their library's exceptions into this tree at the seam.
"""

from __future__ import annotations


class PrivgateError(Exception):
    """Base of every error privgate raises on purpose; ``code`` is stable across releases."""

    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(PrivgateError):
    code = "config_invalid"


class CatalogError(PrivgateError):
    """A catalog file is invalid; the message names the file, the path inside it and the reason."""

    code = "catalog_invalid"


class AnalysisError(PrivgateError):
    code = "analysis_error"


class ParseError(AnalysisError):
    code = "analysis_parse_error"


class PolicyError(PrivgateError):
    code = "policy_eval_error"


class PolicyUndefined(PolicyError):
    """The policy produced no decision at all; never read as allow or as a plain false."""

    code = "policy_undefined"


class PolicyTimeout(PolicyError):
    code = "policy_timeout"


class RewriteError(PrivgateError):
    code = "rewrite_error"


class BudgetError(PrivgateError):
    code = "budget_error"


class ScanError(PrivgateError):
    """A PII scan could not read a source, a table or a column; the scan reports it and goes on.

    Codes: ``scan_source_unreachable``, ``scan_source_unsupported``, ``scan_table_not_found``,
    ``scan_table_unreadable``, ``scan_empty_table``, ``scan_unsupported_type``.
    """

    code = "scan_error"
