"""Run folders, summaries and plots: how users read results.

:func:`write_run` and :func:`load_run` (in :mod:`jaxrl.results.run`) write and
read a run folder (config, metrics CSV/NPZ, summary JSON/CSV, curves PNG);
:mod:`jaxrl.results.plots` has the plotting functions. The statistics live in
:mod:`jaxrl.stats`. :mod:`jaxrl.results.provenance` records what a run ran on,
:mod:`jaxrl.results.reproduce` compares two runs bit for bit, and
:mod:`jaxrl.results.loggers` holds the optional TensorBoard and W&B writers.
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
