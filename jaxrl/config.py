"""Runs configured by name: an algorithm, an environment and ``key=value``
settings resolved into the typed values that ``make_train`` takes.

:func:`resolve` is what ``jaxrl train`` and the experiments call::

    r = resolve("ppo", "CartPole-v1", {"lr": 1e-3, "num_envs": 8})
    trainer = r["spec"].make_train(r["config"], r["env"], r["env_params"])

A key names a field of the algorithm's ``Config`` (static, shape-setting) or
``HParams`` (traced floats, sweepable), or of the environment's params
(``env.`` prefix optional when unambiguous). A value is typed already or is
command-line text (parsed by :func:`parse_value`), and it takes the type of the
default it replaces (:func:`envs.coerce`): a wrong type, an unknown key or an
out-of-range value raises :class:`ConfigError` saying what is allowed.
"""

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ConfigError", "expand_sweep", "fields", "parse_value", "resolve"]


class ConfigError(ValueError):
    """A setting that names nothing, has the wrong type or is out of range."""


def parse_value(text: Any) -> Any:
    """Command-line text as a value: JSON (``0.5``, ``[64, 64]``, ``true``),
    ``True``/``False`` in any case, else the text itself. Non-strings pass."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text


def fields(obj_or_cls: Any) -> dict[str, Any]:
    """``{name: value}`` of a dataclass instance, or ``{name: default}`` of a
    dataclass type."""
    if isinstance(obj_or_cls, type):
        return {f.name: f.default for f in dataclasses.fields(obj_or_cls)}
    return {f.name: getattr(obj_or_cls, f.name) for f in dataclasses.fields(obj_or_cls)}


# Config fields that say which algorithm a registered name is (the tabular
# runners serve several names each): fixed by the name, never a setting, or a
# run named "sarsa_lambda" could run Q-learning.
IDENTITY_FIELDS = ("algorithm", "method", "agent")


def settable(config_cls: type) -> dict[str, Any]:
    """``{name: default}`` of the config fields a user may set: all but the
    :data:`IDENTITY_FIELDS`, and but the fields a shared config's
    ``FIELDS_FOR`` (``{field: identities it serves}``) reserves for other
    algorithms (n-step's window is no setting of TD(0))."""
    values = fields(config_cls)
    identity = next((values[k] for k in IDENTITY_FIELDS if k in values), None)
    only = getattr(config_cls, "FIELDS_FOR", {})
    return {
        k: v
        for k, v in values.items()
        if k not in IDENTITY_FIELDS and (k not in only or identity in only[k])
    }


def check_fields_for(config: Any) -> None:
    """Raise ``ValueError`` if ``config`` sets, away from its default, a field
    its ``FIELDS_FOR`` reserves for other algorithms."""
    values = fields(config)
    defaults = fields(type(config))
    identity = next((values[k] for k in IDENTITY_FIELDS if k in values), None)
    for name, allowed in getattr(type(config), "FIELDS_FOR", {}).items():
        if identity not in allowed and values[name] != defaults[name]:
            raise ValueError(
                f"{name}={values[name]!r} does not apply to {identity} (it is a "
                f"setting of {', '.join(allowed)})"
            )


def _validate(hparams: Any, config: Any = None) -> None:
    # jaxrl.types imports JAX; this module stays JAX-free until a run resolves.
    from jaxrl.types import check_hparams

    check_hparams(hparams)
    # A config may check what needs both (n-step's n against its window).
    if config is not None and hasattr(config, "check_hparams"):
        config.check_hparams(hparams)


def resolve(
    algo: str,
    env_name: str | None,
    settings: Mapping[str, Any],
    sweeps: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, Any]:
    """Resolve an algorithm, an environment and settings into typed values.

    Args:
        algo: a registered algorithm (``jaxrl list``).
        env_name: an environment name; ``None`` for the algorithm's default.
        settings: ``{key: value}``; values may be command-line text.
        sweeps: ``{hparam: [values]}`` to sweep in one compiled call; only
            ``HParams`` fields can be swept.

    Returns:
        ``{"spec", "env_name", "env", "env_params", "config", "hparams",
        "sweep"}``; ``sweep`` maps each swept key to its typed values.

    Raises:
        ConfigError: unknown names or keys, wrong types or out-of-range
            values, with what is allowed.
    """
    import envs
    from jaxrl import registry

    try:
        spec = registry.get(algo)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    env_name = env_name or spec.default_env
    try:
        env_kind = envs.kind(env_name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if env_kind != spec.env_kind and not (
        spec.env_kind in ("discrete", "continuous", "discrete or continuous")
        and env_kind in ("gymnax", "envpool")
    ):
        raise ConfigError(
            f"{algo} needs a {spec.env_kind} environment; {env_name} is {env_kind}. "
            f"Try --env {spec.default_env}"
        )
    _, default_env_params = envs.make(env_name)
    config_keys = settable(spec.config_cls)
    hparam_keys = fields(spec.hparams_cls)
    env_keys = envs.param_fields(default_env_params)
    config_over, hparam_over, env_over = {}, {}, {}
    for key, text in settings.items():
        value = parse_value(text)
        if key.startswith("env."):
            target, defaults, name = env_over, env_keys, key[4:]
            if name not in env_keys:
                raise ConfigError(
                    f"{env_name} has no parameter {name!r}; allowed: "
                    f"{', '.join(env_keys)}"
                )
        elif key in config_keys:
            target, defaults, name = config_over, config_keys, key
        elif key in hparam_keys:
            target, defaults, name = hparam_over, hparam_keys, key
        elif key in env_keys:
            target, defaults, name = env_over, env_keys, key
        elif key in IDENTITY_FIELDS and key in fields(spec.config_cls):
            raise ConfigError(
                f"{key} is fixed by the algorithm's name ({algo} is "
                f"{key}={fields(spec.config_cls)[key]!r}); train another algorithm "
                "instead (jaxrl list)"
            )
        else:
            raise ConfigError(
                f"unknown setting {key!r} for {algo} on {env_name}; allowed: "
                f"config: {', '.join(config_keys)}; hparams: "
                f"{', '.join(hparam_keys)}; env: {', '.join(env_keys)}"
            )
        owner = env_name if defaults is env_keys else algo
        try:
            target[name] = envs.coerce(owner, name, defaults[name], value)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    sweep_values: dict[str, list[Any]] = {}
    for key, values in (sweeps or {}).items():
        if key not in hparam_keys:
            raise ConfigError(
                f"--sweep takes hyperparameters ({', '.join(hparam_keys)}); "
                f"{key!r} is not one (config and env settings set shapes and "
                "cannot be swept in one compiled call)"
            )
        if key in settings:
            raise ConfigError(
                f"{key} is both set and swept; give it either as a setting or "
                "as a sweep"
            )
        if not values:
            raise ConfigError(f"--sweep {key}= needs at least one value")
        try:
            typed = [
                envs.coerce(algo, key, hparam_keys[key], parse_value(v)) for v in values
            ]
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if len(set(typed)) != len(typed):
            raise ConfigError(f"--sweep {key}: a value is repeated in {list(values)}")
        sweep_values[key] = typed
    try:
        env, env_params = envs.make(env_name, **env_over)
        config = spec.config_cls(**config_over)
        hparams = spec.hparams_cls(**hparam_over)
        _validate(hparams, config)
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None
    return {
        "spec": spec,
        "env_name": env_name,
        "env": env,
        "env_params": env_params,
        "config": config,
        "hparams": hparams,
        "sweep": sweep_values,
    }


def expand_sweep(
    hparams: Any, sweep: Mapping[str, Sequence[Any]], config: Any = None
) -> tuple[list, list]:
    """Every setting of a sweep grid: ``(settings, labels)``.

    ``settings[i]`` is ``hparams`` with the ``i``-th combination of the swept
    values (the last key varying fastest), each validated; ``labels[i]`` reads
    ``"alpha=0.1, epsilon=0"``. With ``config``, its ``check_hparams`` (if
    any) checks each setting too.

    Raises:
        ConfigError: a combination is out of range.
    """
    keys = list(sweep)
    grid = list(itertools.product(*(sweep[k] for k in keys)))
    settings = []
    for combo in grid:
        hp = hparams.replace(**dict(zip(keys, combo, strict=True)))
        try:
            _validate(hp, config)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        settings.append(hp)
    labels = [
        ", ".join(f"{k}={v:.12g}" for k, v in zip(keys, c, strict=True)) for c in grid
    ]
    return settings, labels
