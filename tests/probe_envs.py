"""Probe environments: the smallest MDPs that each test one piece of an agent.

After Andy Jones's "Debugging RL, without the agonizing pain" (2021) and the
bsuite probes (Osband et al., 2020). Each isolates one thing an agent must get
right and has a known answer, so a failing probe says where the bug is
(``g`` is the discount):

============================  =================================================
``ConstantReward``            value learning: ``V = 1``
``ObsDependentReward``        value depends on the observation: ``V(o) = o``
``TwoStepDiscount``           discounting: ``V(0) = g``, ``V(1) = 1``
``ActionDependentReward``     policy learning: pick ``good_action`` (+1 vs -1)
``ObsActionDependentReward``  the policy depends on the observation
``TimeLimitChain``            truncation vs termination: ``V(B) = 1 / (1 - g)``
``ContinuousActionReward``    Gaussian policy: ``a* = target``
============================  =================================================

All are gymnax ``Environment`` subclasses (gymnax 1.0: ``step_env`` returns
``obs, state, reward, terminated, info``; ``is_truncated`` is
``state.time >= params.max_steps_in_episode``) with a ``Box`` observation of
shape ``(1,)`` in ``[-1, 1]`` and auto-reset by gymnax's ``step``. All but
``ContinuousActionReward`` (a ``Box`` action of shape ``(1,)``) have
``Discrete(2)`` actions.

The discrete probes are one class, :class:`DiscreteProbe`, whose dynamics
``params.probe`` selects (a traced integer, see :data:`PROBES`); the named
subclasses only set the default parameters. So a test can compile one agent
once and run it on every discrete probe by passing the parameters as an
argument to the jitted function. ``max_steps_in_episode`` is static (part of
the tree structure, as a Python int) and 2 for every probe: the one- and
two-step probes end by termination before it matters, ``TimeLimitChain`` is
cut by it.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

__all__ = [
    "DISCRETE",
    "PROBES",
    "ActionDependentReward",
    "ConstantReward",
    "ContinuousActionReward",
    "DiscreteProbe",
    "ObsActionDependentReward",
    "ObsDependentReward",
    "ProbeParams",
    "ProbeState",
    "TimeLimitChain",
    "TwoStepDiscount",
    "make",
]

PROBES = (
    "ConstantReward",
    "ObsDependentReward",
    "TwoStepDiscount",
    "ActionDependentReward",
    "ObsActionDependentReward",
    "TimeLimitChain",
)


@struct.dataclass
class ProbeState(environment.EnvState):
    """``time`` (steps into the episode) and the current observation."""

    obs: jax.Array  # [1], float32


@struct.dataclass
class ProbeParams(environment.EnvParams):
    """Parameters of the probes.

    Attributes:
        max_steps_in_episode: time limit (truncation); static.
        probe: index into :data:`PROBES` (the discrete probes' dynamics).
        good_action: the rewarded action of ``ActionDependentReward``.
        target: the best action of ``ContinuousActionReward``.
    """

    max_steps_in_episode: int = struct.field(pytree_node=False, default=2)
    probe: int = 0
    good_action: int = 1
    target: float = 0.5


def _obs(x: Any) -> jax.Array:
    return jnp.reshape(jnp.asarray(x, jnp.float32), (1,))


def _coin(key: jax.Array) -> jax.Array:
    """Observation -1 or +1 with equal probability."""
    return _obs(jnp.where(jax.random.bernoulli(key), 1.0, -1.0))


class _Probe(environment.Environment):
    """Shared spaces and bookkeeping; subclasses define ``_reset_obs`` and
    ``_transition``."""

    probe_name = "DiscreteProbe"

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def default_params(self) -> ProbeParams:
        index = PROBES.index(self.probe_name) if self.probe_name in PROBES else 0
        return ProbeParams(probe=index)

    @property
    def num_actions(self) -> int:
        return 2

    def action_space(self, params: ProbeParams | None = None) -> spaces.Space:
        return spaces.Discrete(2)

    def observation_space(self, params: ProbeParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def _reset_obs(self, key: jax.Array, params: ProbeParams) -> jax.Array:
        raise NotImplementedError

    def _transition(self, state: ProbeState, action: Any, params: ProbeParams):
        """``(next_obs [1], reward [], terminated [])``."""
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: ProbeParams):
        obs = self._reset_obs(key, params)
        return obs, ProbeState(time=jnp.int32(0), obs=obs)

    def step_env(self, key: jax.Array, state: ProbeState, action, params):
        del key
        obs, reward, terminated = self._transition(state, action, params)
        return (
            obs,
            ProbeState(time=state.time + 1, obs=obs),
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(terminated, bool),
            {},
        )


class DiscreteProbe(_Probe):
    """The discrete probes, dynamics chosen by ``params.probe``:

    0. ``ConstantReward``: observation 0, any action, reward +1, terminates.
       ``V = 1``.
    1. ``ObsDependentReward``: observation ``o`` = -1 or +1 at random, reward
       ``o``, terminates. ``V(o) = o``.
    2. ``TwoStepDiscount``: observation 0, then 1; reward 0, then +1;
       terminates after the second step. ``V(0) = g``, ``V(1) = 1``.
    3. ``ActionDependentReward``: observation 0; reward +1 for
       ``params.good_action`` (1), else -1; terminates. Optimal: always
       ``good_action``, ``V = 1``.
    4. ``ObsActionDependentReward``: observation ``o`` = -1 or +1 at random;
       reward +1 for action ``o > 0`` (1 on +1, 0 on -1), else -1;
       terminates. Optimal: action ``o > 0``, ``V = 1``.
    5. ``TimeLimitChain``: states A (observation 0) and B (observation 1),
       never terminating, cut by the time limit (2 steps). A -> B with
       reward 0, B -> B with reward +1. Treating the cut as truncation
       (bootstrapping from the state reached) gives the values of the
       endless chain, ``V(B) = 1 / (1 - g)``, ``V(A) = g V(B)`` (``g = 0.5``:
       2 and 1). Treating it as termination gives ``V(B) = 1`` (``V(A) =
       g``); bootstrapping from the auto-reset observation A instead of the
       final one gives ``V(B) = 1 / (1 - g^2)`` (4/3 and 2/3).
    """

    def _reset_obs(self, key, params):
        coin = _coin(key)
        obs = jnp.stack([_obs(0.0), coin, _obs(0.0), _obs(0.0), coin, _obs(0.0)])
        return obs[params.probe]

    def _transition(self, state, action, params):
        o = state.obs[0]
        first = state.time == 0
        right = jnp.asarray(action) == (o > 0).astype(jnp.int32)
        good = jnp.asarray(action) == params.good_action
        # (next observation, reward, terminated) of each probe, in PROBES order.
        outcomes = [
            (0.0, 1.0, True),
            (o, o, True),
            (jnp.where(first, 1.0, 0.0), jnp.where(first, 0.0, 1.0), ~first),
            (0.0, jnp.where(good, 1.0, -1.0), True),
            (o, jnp.where(right, 1.0, -1.0), True),
            (1.0, jnp.where(o > 0.5, 1.0, 0.0), False),
        ]
        obs, reward, terminated = (
            jnp.stack([jnp.asarray(x[i], jnp.float32) for x in outcomes])[params.probe]
            for i in range(3)
        )
        return _obs(obs), reward, terminated > 0.5


class ConstantReward(DiscreteProbe):
    """Probe 1: ``V = 1``. See :class:`DiscreteProbe`."""

    probe_name = "ConstantReward"


class ObsDependentReward(DiscreteProbe):
    """Probe 2: ``V(o) = o``. See :class:`DiscreteProbe`."""

    probe_name = "ObsDependentReward"


class TwoStepDiscount(DiscreteProbe):
    """Probe 3: ``V(0) = gamma``, ``V(1) = 1``. See :class:`DiscreteProbe`."""

    probe_name = "TwoStepDiscount"


class ActionDependentReward(DiscreteProbe):
    """Probe 4: pick ``good_action``. See :class:`DiscreteProbe`."""

    probe_name = "ActionDependentReward"


class ObsActionDependentReward(DiscreteProbe):
    """Probe 5: pick action ``o > 0``. See :class:`DiscreteProbe`."""

    probe_name = "ObsActionDependentReward"


class TimeLimitChain(DiscreteProbe):
    """Truncation probe: ``V(B) = 1 / (1 - gamma)``. See :class:`DiscreteProbe`."""

    probe_name = "TimeLimitChain"


class ContinuousActionReward(_Probe):
    """Probe 4, continuous. Observation 0, action ``a`` in ``[-1, 1]`` (shape
    ``(1,)``, clipped by the env), reward ``-(a - params.target)**2`` (target
    0.5), terminates. The optimal action is ``target``, with ``V = 0``."""

    probe_name = "ContinuousActionReward"

    @property
    def num_actions(self) -> int:
        return 1

    def action_space(self, params: ProbeParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def _reset_obs(self, key, params):
        return _obs(0.0)

    def _transition(self, state, action, params):
        a = jnp.clip(jnp.reshape(jnp.asarray(action, jnp.float32), (1,)), -1.0, 1.0)
        return _obs(0.0), -jnp.sum((a - params.target) ** 2), True


DISCRETE = (
    ConstantReward,
    ObsDependentReward,
    TwoStepDiscount,
    ActionDependentReward,
    ObsActionDependentReward,
    TimeLimitChain,
)


def make(name: str) -> tuple[environment.Environment, ProbeParams]:
    """``(env, default params)`` of the probe called ``name``."""
    classes = {cls.__name__: cls for cls in (*DISCRETE, ContinuousActionReward)}
    if name not in classes:
        raise ValueError(f"unknown probe {name!r}; allowed: {sorted(classes)}")
    env = classes[name]()
    return env, env.default_params
