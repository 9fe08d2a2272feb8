"""The algorithms the CLI and :mod:`jaxrl.parallel` know by name.

Each entry names its module's ``Config`` and ``HParams`` classes and its
``make_train``; ``env_kind`` says which environments it accepts:
``"bandit"`` (the k-armed testbed), ``"tabular"`` (integer observations and an
exact model), ``"discrete"``, ``"continuous"`` or ``"discrete or continuous"`` (action
spaces of deep agents).
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

# The built-in algorithms by name, known without importing them (and so
# without importing JAX): the command line checks a name before it loads
# anything heavy. tests/test_cli_registry.py checks that this equals what
# registers.
BUILTIN = (
    "a2c",
    "bandit_epsilon_greedy",
    "bandit_gradient",
    "bandit_optimistic",
    "bandit_ucb",
    "batch_mc",
    "batch_td",
    "dqn",
    "dreamer",
    "dyna_q",
    "dyna_q_plus",
    "expected_sarsa",
    "mc_every_visit",
    "mc_first_visit",
    "nstep_expected_sarsa",
    "nstep_sarsa",
    "nstep_td",
    "offline_lambda_return",
    "ppo",
    "q_learning",
    "reinforce",
    "sac",
    "sac_discrete",
    "sarsa",
    "sarsa_lambda",
    "td0",
    "td_lambda",
    "true_online_td_lambda",
)


# The deep agents among them (env_kind "discrete", "continuous" or "discrete
# or continuous"; the command line gives them fewer seeds by default) and the
# bandit algorithms (env_kind "bandit"). tests/test_cli_registry.py checks
# both against the registered env kinds.
DEEP = ("a2c", "dqn", "dreamer", "ppo", "reinforce", "sac", "sac_discrete")
BANDIT = ("bandit_epsilon_greedy", "bandit_gradient", "bandit_optimistic", "bandit_ucb")


def _kind(name: str) -> str | None:
    """The env kind of an algorithm registered by a plug-in (not built in),
    ``None`` for a built-in or unknown name (nothing is imported)."""
    spec = _ALGOS.get(name)
    return None if spec is None or name in BUILTIN else spec.env_kind


def is_deep(name: str) -> bool:
    """A deep agent: a built-in one of :data:`DEEP`, or a registered
    algorithm whose env kind is neither ``"bandit"`` nor ``"tabular"``."""
    kind = _kind(name)
    return name in DEEP or kind not in (None, "bandit", "tabular")


def is_bandit(name: str) -> bool:
    """A bandit algorithm (env kind ``"bandit"``)."""
    return name in BANDIT or _kind(name) == "bandit"


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


def check_name(name: str) -> None:
    """Raise ``ValueError`` listing the algorithms if ``name`` is none of them;
    cheap for a built-in name (nothing is imported)."""
    if name in BUILTIN or name in _ALGOS:
        return
    allowed = ", ".join(sorted(set(BUILTIN) | set(_ALGOS)))
    raise ValueError(f"unknown algorithm {name!r}; allowed: {allowed}")
