"""Facts: what the SQL analyzer learned about one request, in the shape policies read.

Facts are the analyzer's whole output and the policy's whole view of the SQL. They name catalog
objects by their lower-case qualified names (``schema.table``) so that policies can look them up in
``data.privgate.catalog``. Anything the analyzer could not reason about goes into ``unsupported``
rather than being dropped: the default policy denies requests that carry such facts.
"""

from __future__ import annotations

import warnings
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StatementKind = Literal[
    "select", "insert", "update", "delete", "merge", "ddl", "copy", "set", "show", "transaction",
    "command", "empty", "unknown",
]
Usage = Literal["projected", "aggregated", "filtered", "grouped", "joined", "ordered", "windowed"]


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableFact(_Fact):
    name: str = Field(description="schema.table, lower case; as written when unknown to the catalog")
    known: bool
    domain: str | None = None


class ColumnFact(_Fact):
    """One source column and every way the statement uses it.

    ``projected`` means the raw value (or a non-aggregating function of it) can reach the result,
    traced through CTEs, subqueries, set operations and ``*``. ``aggregated`` lists the aggregate
    functions applied to it on the way out.
    """

    table: str
    column: str
    usages: tuple[Usage, ...]
    aggregates: tuple[str, ...] = ()
    transforms: tuple[str, ...] = Field(
        default=(), description="non-aggregate functions applied before it is projected, e.g. lower, md5"
    )


class AggregateFact(_Fact):
    function: str = Field(description="lower-case function name, e.g. count, sum, avg, percentile_cont")
    distinct: bool = False
    columns: tuple[str, ...] = Field(default=(), description="table.column arguments; empty for COUNT(*)")
    star: bool = False


class JoinFact(_Fact):
    kind: str = Field(description="inner, left, right, full, cross, semi, anti, lateral")
    left_tables: tuple[str, ...]
    right_tables: tuple[str, ...]
    on_columns: tuple[str, ...] = ()


with warnings.catch_warnings():
    # pydantic warns that the field name shadows the deprecated ``BaseModel.construct``; the name is
    # part of the policy input contract, and the warning would otherwise print on every import.
    warnings.filterwarnings("ignore", message='Field name "construct"', category=UserWarning)

    class Unsupported(_Fact):
        """A construct the analyzer does not understand well enough to vouch for."""

        construct: str  # type: ignore[assignment]  # shadows the deprecated BaseModel.construct
        detail: str


class Facts(_Fact):
    dialect: str
    statement_kind: StatementKind
    statement_count: int = 1
    tables: tuple[TableFact, ...] = ()
    columns: tuple[ColumnFact, ...] = ()
    aggregates: tuple[AggregateFact, ...] = ()
    joins: tuple[JoinFact, ...] = ()
    ctes: tuple[str, ...] = ()
    subquery_count: int = 0
    set_operations: tuple[str, ...] = ()
    window_functions: tuple[str, ...] = ()
    functions: tuple[str, ...] = Field(default=(), description="every function called, lower case, sorted")
    disallowed_functions: tuple[str, ...] = Field(default=(), description="functions outside rules/ allow-list")
    unknown_tables: tuple[str, ...] = ()
    unknown_columns: tuple[str, ...] = ()
    group_by: tuple[str, ...] = Field(default=(), description="table.column keys of the outer GROUP BY")
    has_group_by: bool = False
    has_star: bool = False
    limit: int | None = None
    is_aggregate_query: bool = Field(default=False, description="every output column is an aggregate or group key")
    unsupported: tuple[Unsupported, ...] = ()

    def column_ids(self) -> set[str]:
        return {f"{c.table}.{c.column}" for c in self.columns}
