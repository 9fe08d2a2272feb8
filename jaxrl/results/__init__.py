"""Run folders, summaries and plots: how users read results.

:func:`write_run` and :func:`load_run` (in :mod:`jaxrl.results.run`) write and
read a run folder (config, metrics CSV/NPZ, summary JSON/CSV, curves PNG);
:mod:`jaxrl.results.plots` has the plotting functions. The statistics live in
:mod:`jaxrl.stats`.
"""

from jaxrl.results.run import (
    Run,
    RunSummary,
    format_summary_table,
    load_run,
    summarize_metrics,
    to_jsonable,
    write_run,
)

__all__ = [
    "Run",
    "RunSummary",
    "format_summary_table",
    "load_run",
    "summarize_metrics",
    "to_jsonable",
    "write_run",
]
