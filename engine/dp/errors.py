"""Errors of the DP layer: every refusal names what would have been allowed instead.

``DpError`` codes start with ``dp_`` (the planner refuses the query shape or the catalog lacks what
DP needs); ``UpstreamError`` codes start with ``upstream_`` (the warehouse could not run the
bounded SQL). Both are ``PrivgateError`` subclasses, so the pipeline turns them into denies.

Stable codes::

    dp_unsupported_statement   not a single SELECT
    dp_unsupported_aggregate   an aggregate DP cannot release (MIN, MAX, COUNT(DISTINCT non-unit), ...)
    dp_unsupported_projection  a SELECT item that is neither a GROUP BY key nor a supported aggregate
    dp_unsupported_join        a join that could mix two people's rows or lose the privacy unit
    dp_unsupported_subquery    a subquery/CTE that aggregates, limits or otherwise hides the unit
    dp_unsupported_clause      HAVING / ORDER BY / GROUP BY parts that cannot be applied after noise
    dp_unit_not_traceable      the privacy unit cannot be followed to the outer query
    dp_mixed_privacy_units     tables with different privacy-unit namespaces in one query
    dp_no_privacy_unit         a governed (non-public) table without a privacy unit
    dp_unknown_table           a table the catalog does not declare
    dp_missing_bounds          SUM/AVG/quantile over a column without declared bounds
    dp_group_by_unit           grouping by the privacy unit itself (per-person release)
    dp_invalid_budget          epsilon/delta from the obligation unusable (e.g. delta=0 with unknown keys)
    upstream_unreachable       cannot connect to the warehouse
    upstream_error             the warehouse rejected or failed the bounded SQL
"""

from __future__ import annotations

from ..errors import PrivgateError


class DpError(PrivgateError):
    """The query cannot be answered under differential privacy as written."""

    code = "dp_error"


class UpstreamError(PrivgateError):
    """The upstream warehouse failed; adapters translate driver exceptions into this."""

    code = "upstream_error"
