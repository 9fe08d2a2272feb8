"""Environments: our own pure-JAX envs, and gymnax's by name.

``make(name, **overrides) -> (env, params)`` resolves our names (``GridWorld-v0``,
``CliffWalking-v0``, ``WindyGridworld-v0``, ``DynaMaze-v0``, ``BlockingMaze-v0``,
``ShortcutMaze-v0``, ``RandomWalk-v0``, ``Bandit-v0``)
and passes gymnax names (``CartPole-v1``, ``Breakout-MinAtar``, ...) through to
``gymnax.make``, and ``envpool:TASK`` (``envpool:CartPole-v1``,
``envpool:Pendulum-v1``, ``envpool:Breakout-v5``) to an EnvPool pool behind
:class:`envs.envpool_env.EnvPoolEnv` (needs the ``atari`` extra; envpool is
imported only then). Keyword overrides replace fields of the default parameters,
and impossible values (a goal inside a wall, a slip outside [0, 1]) are refused
with a message that says what is allowed.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

from envs import bandit, grid, random_walk
from envs.tabular import TabularEnv, TabularModel

__all__ = [
    "TabularEnv",
    "TabularModel",
    "coerce",
    "kind",
    "make",
    "names",
    "param_fields",
]


@dataclasses.dataclass(frozen=True)
class _EnvSpec:
    factory: Callable[[dict[str, Any]], Any]
    validate: Callable[[Any], None]
    kind: str  # "tabular" | "bandit"
    description: str


_OURS: dict[str, _EnvSpec] = {
    "GridWorld-v0": _EnvSpec(
        lambda o: grid.GridWorld("GridWorld-v0"),
        grid.validate_params,
        "tabular",
        "10x10 gridworld: goal +10, traps -10, wall bump -1, optional slip",
    ),
    "CliffWalking-v0": _EnvSpec(
        lambda o: grid.GridWorld("CliffWalking-v0"),
        grid.validate_params,
        "tabular",
        "4x12 cliff walking: -1 a step, -100 and back to start on the cliff",
    ),
    "WindyGridworld-v0": _EnvSpec(
        lambda o: grid.GridWorld("WindyGridworld-v0"),
        grid.validate_params,
        "tabular",
        "7x10 windy gridworld: upward wind per column, -1 a step",
    ),
    "DynaMaze-v0": _EnvSpec(
        lambda o: grid.GridWorld("DynaMaze-v0"),
        grid.validate_params,
        "tabular",
        "6x9 Dyna maze (S&B fig. 8.2): +1 at the goal, else 0; 14-step optimum",
    ),
    "BlockingMaze-v0": _EnvSpec(
        lambda o: grid.ChangingMaze("BlockingMaze-v0"),
        grid.validate_maze_params,
        "tabular",
        "6x9 blocking maze (S&B fig. 8.4): the short path closes after "
        "change_at=1000 steps",
    ),
    "ShortcutMaze-v0": _EnvSpec(
        lambda o: grid.ChangingMaze("ShortcutMaze-v0"),
        grid.validate_maze_params,
        "tabular",
        "6x9 shortcut maze (S&B fig. 8.5): a shortcut opens after change_at=3000 steps",
    ),
    "RandomWalk-v0": _EnvSpec(
        lambda o: random_walk.RandomWalk(),
        random_walk.validate_params,
        "tabular",
        "random walk: n states (5; 19 with n=19, left_reward=-1), +1 at the right",
    ),
    "Bandit-v0": _EnvSpec(
        lambda o: bandit.Bandit(int(o.get("num_arms", 10))),
        bandit.validate_params,
        "bandit",
        "k-armed Gaussian testbed, q*(a) ~ N(mean, 1), optional drift",
    ),
}


def _gymnax_names() -> list[str]:
    import gymnax

    return list(gymnax.registered_envs)


def names() -> dict[str, list[str]]:
    """Known environment names, by source."""
    return {"jaxrl": sorted(_OURS), "gymnax": sorted(_gymnax_names())}


def kind(name: str) -> str:
    """``"tabular"``, ``"bandit"``, ``"gymnax"`` or ``"envpool"``."""
    if name in _OURS:
        return _OURS[name].kind
    _check_name(name)
    if name.startswith(_ENVPOOL_PREFIX):
        return "envpool"
    return "gymnax"


_ENVPOOL_PREFIX = "envpool:"


def _check_name(name: str) -> None:
    if name.startswith(_ENVPOOL_PREFIX):
        from envs import envpool_env

        try:
            envpool = envpool_env.import_envpool()
        except ImportError as e:
            raise ValueError(f"{name}: {e}") from None
        task = name[len(_ENVPOOL_PREFIX) :]
        if task not in envpool.list_all_envs():
            raise ValueError(
                f"unknown EnvPool task {task!r} in {name!r}; e.g. "
                "envpool:CartPole-v1, envpool:Pendulum-v1, envpool:Breakout-v5 "
                "(envpool.list_all_envs() lists them all)"
            )
        return
    if name not in _OURS and name not in _gymnax_names():
        raise ValueError(
            f"unknown environment {name!r}; ours: {', '.join(sorted(_OURS))}; "
            f"gymnax: {', '.join(sorted(_gymnax_names()))}"
        )


def param_fields(params: Any) -> dict[str, Any]:
    """The overridable fields of a params dataclass with their current values."""
    return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}


def coerce(owner: str, field: str, old: Any, value: Any) -> Any:
    """``value`` with the type of the default ``old`` it replaces.

    The one checker for every setting given by name (env params here, and the
    configs and hyperparameters of :func:`jaxrl.config.resolve`): a bool takes
    only true/false, an int an integer (``5e5`` passes), a float any number, a
    string a string and a tuple a list (nested lists become tuples; one
    integer is a list of one).

    Raises:
        ValueError: naming ``owner``, ``field``, what it takes and what it got.
    """

    def wrong(what: str) -> ValueError:
        return ValueError(f"{owner}: {field} takes {what}, got {value!r}")

    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(old, bool):
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if isinstance(old, int):
        if not number or not float(value).is_integer():
            raise wrong("an integer")
        return int(value)
    if isinstance(old, float):
        if not number:
            raise wrong("a number")
        return float(value)
    if isinstance(old, str):
        if not isinstance(value, str):
            raise wrong("a string")
        return value
    if isinstance(old, tuple):
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]  # one number for a list of one: hidden_sizes=64
        if not isinstance(value, list | tuple):
            raise wrong("a list, e.g. [1, 2]")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def make(name: str, **overrides: Any) -> tuple[Any, Any]:
    """Build an environment and its parameters.

    Args:
        name: one of :func:`names`, or ``envpool:TASK``.
        **overrides: fields of the environment's params to replace, e.g.
            ``make("GridWorld-v0", slip=0.1)`` or ``make("RandomWalk-v0", n=19,
            left_reward=-1.0)``.

    Returns:
        ``(env, params)``; ``env`` follows gymnax's ``Environment`` API.

    Raises:
        ValueError: unknown name, unknown parameter, or impossible values.
    """
    _check_name(name)
    if name in _OURS:
        spec = _OURS[name]
        env = spec.factory(overrides)
        params = env.default_params
    elif name.startswith(_ENVPOOL_PREFIX):
        from envs.envpool_env import EnvPoolEnv

        env = EnvPoolEnv(name[len(_ENVPOOL_PREFIX) :])
        params = env.default_params
        spec = None
        overrides = dict(overrides)
        preset = overrides.pop("preset", None)
        if preset is not None:
            from envs import atari

            if not env.is_atari:
                raise ValueError(
                    f"{name} is not an Atari task; preset= picks Atari settings "
                    f"({', '.join(atari.PRESETS)})"
                )
            params = atari.with_preset(params, str(preset))
    else:
        import gymnax

        env, params = gymnax.make(name)
        spec = None
    fields = param_fields(params)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"{name} has no parameter(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(fields)}"
        )
    params = params.replace(
        **{k: coerce(name, k, fields[k], v) for k, v in overrides.items()}
    )
    if spec is not None:
        spec.validate(params)
    if getattr(env, "is_atari", False):
        from envs import atari

        atari.validate(name, params)
    return env, params
