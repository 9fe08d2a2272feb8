"""Proximal Policy Optimization, PPO-Clip (Schulman et al., 2017).

Each iteration collects ``num_steps`` steps from ``num_envs`` environments,
estimates advantages with GAE (Schulman et al., 2016) and takes
``update_epochs * num_minibatches`` gradient steps on shuffled minibatches of
the clipped surrogate (:func:`jaxrl.ops.ppo_loss`, eq. 9 of the paper)::

    rho_t = pi(a_t|s_t) / pi_old(a_t|s_t)
    L     = -min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)
            + vf_coef * L_V - ent_coef * H(pi(.|s_t))

with ``A_t`` standardised over the minibatch and the value loss ``L_V`` clipped
around the rollout's values as in PureJaxRL and OpenAI baselines
(``Config.clip_value``; Andrychowicz et al., 2021 find clipping does not help).
The rollout, the advantages (bootstrapping on truncation, not on termination)
and the optimisation loop live in :mod:`jaxrl.agents.onpolicy`.

The defaults are PureJaxRL's CartPole-v1 configuration (Lu et al., 2022):
4 envs x 128 steps, 5e5 steps, 4 epochs of 4 minibatches, Adam at 2.5e-4
annealed linearly to 0, gamma 0.99, lambda 0.95, clip 0.2, entropy 0.01,
value 0.5, gradient norm 0.5, separate tanh 64x64 actor and critic.
"""

import dataclasses
from typing import Any

import jax
import numpy as np
from flax import struct

from jaxrl.agents import onpolicy
from jaxrl.ops import ppo_loss
from jaxrl.registry import AlgoSpec, register
from jaxrl.types import Trainer, hparam

__all__ = ["Config", "HParams", "make_loss", "make_train"]


@dataclasses.dataclass(frozen=True)
class Config(onpolicy.Config):
    """PPO's static settings; see :class:`jaxrl.agents.onpolicy.Config`.

    Attributes:
        clip_value: clip the value loss around the rollout's values by
            ``HParams.value_clip_eps`` (PureJaxRL does).
    """

    clip_value: bool = True

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.clip_value, bool | np.bool_):
            raise ValueError(f"clip_value={self.clip_value!r} must be a bool")


@struct.dataclass
class HParams:
    """PPO's traced hyperparameters.

    Attributes:
        lr: Adam step size (initial, when annealed), ``> 0``.
        gamma: discount, ``[0, 1]``.
        gae_lambda: GAE ``lambda``, ``[0, 1]``.
        clip_eps: policy ratio clipping ``eps``, ``(0, 1]``.
        value_clip_eps: value clipping range (with ``Config.clip_value``),
            ``> 0``.
        ent_coef: entropy bonus weight, ``>= 0``.
        vf_coef: value loss weight, ``>= 0``.
        max_grad_norm: global gradient norm clip, ``> 0`` (``inf``: none).
    """

    lr: float = hparam(2.5e-4, "(0, inf)")
    gamma: float = hparam(0.99, "[0, 1]")
    gae_lambda: float = hparam(0.95, "[0, 1]")
    clip_eps: float = hparam(0.2, "(0, 1]")
    value_clip_eps: float = hparam(0.2, "(0, inf]")
    ent_coef: float = hparam(0.01, "[0, inf)")
    vf_coef: float = hparam(0.5, "[0, inf)")
    max_grad_norm: float = hparam(0.5, "(0, inf]")


def make_loss(config: Config) -> onpolicy.LossFn:
    """PPO's per-sample loss and its terms (``policy_loss``, ``value_loss``,
    ``entropy``, ``approx_kl``, ``clip_fraction``); the loop averages them."""

    def loss(hp: HParams, b: onpolicy.LossInputs) -> tuple[jax.Array, dict]:
        total, aux = ppo_loss(
            b.log_prob,
            b.old_log_prob,
            b.advantage,
            b.entropy,
            b.value,
            b.old_value,
            b.target,
            clip_eps=hp.clip_eps,
            value_clip_eps=hp.value_clip_eps if config.clip_value else None,
            value_coef=hp.vf_coef,
            entropy_coef=hp.ent_coef,
        )
        return total, aux._asdict()

    return loss


def make_train(config: Config, env: Any, env_params: Any) -> Trainer:
    """A PPO run on ``env`` (``Discrete`` or 1-D ``Box`` actions).

    Returns:
        A :class:`~jaxrl.types.Trainer` over
        :class:`~jaxrl.agents.onpolicy.OnPolicyState` with hyperparameters
        :class:`HParams`; metrics per iteration: ``env_steps``, ``return``,
        ``eval_return``, ``loss``, ``policy_loss``, ``value_loss``,
        ``entropy``, ``approx_kl``, ``clip_fraction``.
    """
    if not isinstance(config, Config):
        raise ValueError(f"ppo.make_train needs a ppo.Config, got {config!r}")
    return onpolicy.make_on_policy_train(
        config, env, env_params, make_loss(config), lambda hp: hp.gae_lambda
    )


register(
    AlgoSpec(
        name="ppo",
        description="PPO-Clip with GAE, minibatch epochs (PureJaxRL defaults)",
        config_cls=Config,
        hparams_cls=HParams,
        make_train=make_train,
        env_kind="discrete",
        default_env="CartPole-v1",
    )
)
