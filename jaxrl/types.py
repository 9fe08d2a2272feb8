"""The contracts every agent follows.

An agent module provides a frozen ``Config`` (static, shape-setting values), an
``HParams`` pytree of traced floats (so a sweep is a ``vmap``) and
``make_train(config, env, env_params) -> Trainer``. A :class:`Trainer` is
``train(key, hparams) -> TrainOutput`` (jit-able, vmap-able, a ``lax.scan``
body) that also exposes its ``init``, its iteration bodies and its schedule
(:meth:`Trainer.plan`) so that :mod:`jaxrl.parallel` can run it in compiled
chunks with progress between them.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class TrainOutput(NamedTuple):
    """What a run returns.

    Attributes:
        state: the final training state (Q-table, network parameters, ...).
        metrics: one scalar per iteration and metric name, stacked by the scan:
            ``{name: [num_iterations]}``.
    """

    state: Any
    metrics: dict[str, jax.Array]


class Piece(NamedTuple):
    """A stretch of iterations with one static shape, part of a :meth:`Trainer.plan`.

    ``repeat`` times: ``length`` iterations of the ``warmup`` or the ``update``
    body in one ``lax.scan``, then an evaluation if ``evaluate``.
    """

    warmup: bool
    length: int
    evaluate: bool
    repeat: int = 1


@dataclasses.dataclass(frozen=True)
class Trainer:
    """A training run as pure functions, with its schedule as structure.

    What happens only sometimes has its own scan level instead of a batched
    predicate (under ``vmap`` over seeds, a ``lax.cond`` on the iteration
    becomes a ``select`` that runs both branches every time): the first
    ``warmup_iterations`` run the ``warmup`` body (e.g. acting without
    learning until ``learning_starts``), the rest run ``update``, and after
    every ``eval_every``-th iteration (1-based: iterations ``E, 2E, ...``)
    ``evaluate`` runs once, outside the scan of iterations. A run, or a chunk
    of one, is a :meth:`plan` of such pieces, all static.

    Attributes:
        init: ``(key, hparams) -> state``.
        update: ``state -> (state, metrics)``, one iteration (an episode for the
            tabular agents, one collect-and-update for the deep ones); metrics
            is a dict of scalars.
        num_iterations: how many iterations a full run has.
        warmup: ``state -> (state, metrics)``, an iteration of the first
            ``warmup_iterations``; the same metric names as ``update`` (NaN
            for what it does not compute).
        warmup_iterations: iterations that run ``warmup`` (static).
        evaluate: ``(key, state) -> {name: scalar}``, run after every
            ``eval_every``-th iteration on the state after it. ``key`` is the
            state's ``key`` field *before* that iteration, so an iteration that
            splits its key as ``key, ..., eval_key = split(state.key, n)`` can
            derive the same ``eval_key``. In the metrics, each name holds the
            value at the evaluated iterations and NaN elsewhere (an integer
            metric holds 0 elsewhere).
        eval_every: iterations between evaluations (0: never).
        one_device_per_process: the run steps an environment that lives on
            the host, one per process (an EnvPool pool: its seeds share it),
            so :func:`jaxrl.parallel.run` puts its seeds on one device of
            each process (:func:`jaxrl.parallel.run_devices`).
    """

    init: Callable[[jax.Array, Any], Any]
    update: Callable[[Any], tuple[Any, dict[str, jax.Array]]]
    num_iterations: int
    warmup: Callable[[Any], tuple[Any, dict[str, jax.Array]]] | None = None
    warmup_iterations: int = 0
    evaluate: Callable[[jax.Array, Any], dict[str, jax.Array]] | None = None
    eval_every: int = 0
    one_device_per_process: bool = False

    def __post_init__(self):
        if self.warmup_iterations and self.warmup is None:
            raise ValueError("warmup_iterations > 0 needs a warmup body")
        if not 0 <= self.warmup_iterations <= self.num_iterations:
            raise ValueError(
                f"warmup_iterations={self.warmup_iterations} must lie in "
                f"[0, num_iterations={self.num_iterations}]"
            )
        if self.eval_every < 0 or (self.eval_every and self.evaluate is None):
            raise ValueError("eval_every > 0 needs an evaluate function")

    def __call__(self, key: jax.Array, hparams: Any) -> TrainOutput:
        """Run all iterations (a jit-able, vmap-able function)."""
        state = self.init(key, hparams)
        return self.run(state, self.num_iterations)

    def run(self, state: Any, num_iterations: int, start: int = 0) -> TrainOutput:
        """Continue from ``state``, which has done ``start`` iterations, for
        ``num_iterations`` more."""
        return self.run_plan(state, self.plan(start, num_iterations))

    def plan(self, start: int, num_iterations: int) -> tuple[Piece, ...]:
        """The pieces of iterations ``[start, start + num_iterations)``.

        Chunks at the same offset from the warm-up's end and the evaluation
        grid get equal plans, hence one compilation."""
        end = start + num_iterations
        if not 0 <= start <= end <= self.num_iterations:
            raise ValueError(
                f"iterations [{start}, {end}) are outside the run's "
                f"[0, {self.num_iterations})"
            )
        every = self.eval_every
        pieces: list[Piece] = []
        i = start
        while i < end:
            warm = i < self.warmup_iterations
            stop = min(end, self.warmup_iterations) if warm else end
            if every:
                stop = min(stop, (i // every + 1) * every)
            pieces.append(Piece(warm, stop - i, bool(every) and stop % every == 0))
            i = stop
        merged: list[Piece] = []
        for piece in pieces:
            if merged and merged[-1]._replace(repeat=1) == piece:
                merged[-1] = merged[-1]._replace(repeat=merged[-1].repeat + 1)
            else:
                merged.append(piece)
        return tuple(merged)

    def run_plan(self, state: Any, plan: tuple[Piece, ...]) -> TrainOutput:
        """Run the pieces of a :meth:`plan` in order; metrics ``[iterations]``."""
        template = self._eval_template(state) if self.evaluate is not None else {}
        outputs = []
        for piece in plan:
            state, metrics = self._run_piece(state, piece, template)
            outputs.append(metrics)
        if len(outputs) == 1:
            return TrainOutput(state, outputs[0])
        names = outputs[0].keys()
        for other in outputs[1:]:
            if other.keys() != names:
                raise ValueError(
                    f"the warmup and update bodies report different metrics: "
                    f"{sorted(names)} and {sorted(other.keys())}"
                )
        metrics = {k: jnp.concatenate([m[k] for m in outputs]) for k in names}
        return TrainOutput(state, metrics)

    def _eval_template(self, state: Any) -> dict[str, Any]:
        return jax.eval_shape(self.evaluate, state.key, state)

    def _run_piece(
        self, state: Any, piece: Piece, template: dict[str, Any]
    ) -> tuple[Any, dict[str, jax.Array]]:
        body_fn = self.warmup if piece.warmup else self.update

        def iteration(carry, _):
            carry, metrics = body_fn(carry)
            return carry, jax.tree.map(jnp.asarray, metrics)

        def stretch(carry, _):
            if not piece.evaluate:
                carry, metrics = jax.lax.scan(iteration, carry, None, piece.length)
                metrics.update(_missing(template, piece.length))
                return carry, metrics
            if piece.length > 1:
                carry, first = jax.lax.scan(iteration, carry, None, piece.length - 1)
            key = carry.key
            carry, last = body_fn(carry)
            last = jax.tree.map(jnp.asarray, last)
            values = self.evaluate(key, carry)
            if piece.length > 1:
                metrics = jax.tree.map(
                    lambda a, b: jnp.concatenate([a, b[None]]), first, last
                )
            else:
                metrics = jax.tree.map(lambda b: b[None], last)
            for name, spec in template.items():
                column = _missing({name: spec}, piece.length)[name]
                metrics[name] = column.at[-1].set(values[name])
            return carry, metrics

        if piece.repeat == 1:
            return stretch(state, None)
        state, metrics = jax.lax.scan(stretch, state, None, piece.repeat)
        n = piece.repeat * piece.length
        return state, jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), metrics)


def _missing(template: dict[str, Any], length: int) -> dict[str, jax.Array]:
    """``[length]`` columns of "no value": NaN (0 for integer metrics)."""
    return {
        name: jnp.full(
            (length,) + spec.shape,
            jnp.nan if jnp.issubdtype(spec.dtype, jnp.inexact) else 0,
            spec.dtype,
        )
        for name, spec in template.items()
    }


def _parse_interval(allowed: str) -> tuple[float, float, bool, bool]:
    """``"(0, inf)"`` -> ``(0.0, inf, True, True)``; ``"[0, 1]"`` -> closed."""
    text = allowed.strip()
    if text[0] not in "([" or text[-1] not in ")]" or text.count(",") != 1:
        raise ValueError(
            f"an interval reads like '(0, inf)' or '[0, 1]', not {allowed!r}"
        )
    low, high = (float(x) for x in text[1:-1].split(","))
    return low, high, text[0] == "(", text[-1] == ")"


def hparam(default: float, allowed: str) -> Any:
    """A traced hyperparameter field with its allowed interval, declared once.

    ``lr: float = hparam(2.5e-4, "(0, inf)")``; :func:`check_hparams` reads the
    interval (``(``/``)`` open, ``[``/``]`` closed, ``inf`` allowed) from the
    field's metadata. Use in a ``flax.struct.dataclass``.
    """
    from flax import struct

    _parse_interval(allowed)  # a typo fails at import, not at the first check
    return struct.field(default=default, metadata={"allowed": allowed})


def check_hparams(hparams: Any) -> None:
    """Raise ``ValueError`` naming the first field of ``hparams`` outside the
    interval its :func:`hparam` declares (every element, for a swept array).

    The one place ranges are checked: at the edge (:func:`jaxrl.config.resolve`,
    :mod:`jaxrl.parallel`), on concrete values, never under ``jit``.
    """
    if not dataclasses.is_dataclass(hparams):
        return  # e.g. None, or a plain pytree: nothing is declared
    for f in dataclasses.fields(hparams):
        allowed = f.metadata.get("allowed")
        if allowed is not None:
            low, high, low_open, high_open = _parse_interval(allowed)
            check_range(
                f.name,
                getattr(hparams, f.name),
                low,
                high,
                low_open=low_open,
                high_open=high_open,
            )


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

    Used by :func:`check_hparams`, on concrete values, never under ``jit``.
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
