"""A progress bar for long scans, on stderr so ``--format json`` on stdout stays parseable."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class RichProgress:
    """Use as ``with RichProgress() as bar: scan(..., progress=bar)``; silent when stderr is not a tty."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("scanning {task.fields[table]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("scan", total=None, table="")

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def __call__(self, table: str, done: int, total: int) -> None:
        self._progress.update(self._task, completed=done, total=total, table=table)
