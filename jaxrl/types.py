"""The contracts every agent follows.

An agent module provides a frozen ``Config`` (static, shape-setting values), an
``HParams`` pytree of traced floats (so a sweep is a ``vmap``) and
``make_train(config, env, env_params) -> Trainer``. A :class:`Trainer` is
``train(key, hparams) -> TrainOutput`` (jit-able, vmap-able, a ``lax.scan``
body) that also exposes its ``init`` and one-iteration ``update`` so that
:mod:`jaxrl.parallel` can run it in compiled chunks with progress between them.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class TrainOutput(NamedTuple):
    """What a run returns.

    Attributes:
        state: the final training state (Q-table, network parameters, ...).
        metrics: one scalar per iteration and metric name, stacked by the scan:
            ``{name: [num_iterations]}``.
    """

    state: Any
    metrics: dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A training run as two pure functions.

    Attributes:
        init: ``(key, hparams) -> state``.
        update: ``state -> (state, metrics)``, one iteration (an episode for the
            tabular agents, one collect-and-update for the deep ones); metrics
            is a dict of scalars.
        num_iterations: how many times ``update`` runs in a full run.
    """

    init: Callable[[jax.Array, Any], Any]
    update: Callable[[Any], tuple[Any, dict[str, jax.Array]]]
    num_iterations: int

    def __call__(self, key: jax.Array, hparams: Any) -> TrainOutput:
        """Run all iterations in one ``lax.scan``."""
        state = self.init(key, hparams)
        return self.run(state, self.num_iterations)

    def run(self, state: Any, num_iterations: int) -> TrainOutput:
        """Continue from ``state`` for ``num_iterations`` iterations."""

        def body(carry, _):
            return self.update(carry)

        state, metrics = jax.lax.scan(body, state, None, length=num_iterations)
        return TrainOutput(state, metrics)


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless every element of ``value`` lies in the range.

    Used by ``HParams.validate`` at the edge (CLI, ``jaxrl.parallel``), on
    concrete values, never under ``jit``.
    """
    import numpy as np

    arr = np.asarray(value, dtype=float)
    lo_ok = arr > low if low_open else arr >= low
    hi_ok = arr < high if high_open else arr <= high
    if not (np.all(lo_ok) and np.all(hi_ok)):
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        raise ValueError(
            f"hyperparameter {name}={value!r} is out of range: allowed {lb}{low}, "
            f"{high}{rb}"
        )
