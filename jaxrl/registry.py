"""The algorithms the CLI and :mod:`jaxrl.parallel` know by name.

Each entry names its module's ``Config`` and ``HParams`` classes and its
``make_train``; ``env_kind`` says which environments it accepts:
``"bandit"`` (the k-armed testbed), ``"tabular"`` (integer observations and an
exact model), ``"discrete"`` or ``"continuous"`` (action spaces of deep agents).
"""

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class AlgoSpec:
    name: str
    description: str
    config_cls: type
    hparams_cls: type
    make_train: Callable[..., Any]
    env_kind: str
    default_env: str


_ALGOS: dict[str, AlgoSpec] = {}


def register(spec: AlgoSpec) -> AlgoSpec:
    if spec.name in _ALGOS:
        raise ValueError(f"algorithm {spec.name!r} is already registered")
    _ALGOS[spec.name] = spec
    return spec


def _load_builtin() -> None:
    # Importing the modules registers their algorithms.
    import jaxrl.agents  # noqa: F401
    import jaxrl.tabular  # noqa: F401


def get(name: str) -> AlgoSpec:
    _load_builtin()
    if name not in _ALGOS:
        allowed = ", ".join(sorted(_ALGOS))
        raise ValueError(f"unknown algorithm {name!r}; allowed: {allowed}")
    return _ALGOS[name]


def names() -> list[str]:
    _load_builtin()
    return sorted(_ALGOS)
