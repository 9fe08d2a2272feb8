"""Advantage actor-critic, A2C (Mnih et al., 2016, the synchronous variant).

Each iteration collects ``num_steps`` steps from ``num_envs`` environments and
takes a single gradient step on the whole rollout of
(:func:`jaxrl.ops.actor_critic_loss`)::

    L = -log pi(a_t|s_t) A_t + vf_coef * 0.5 (G_t - V(s_t))**2
        - ent_coef * H(pi(.|s_t))

where ``A_t`` is the GAE advantage and ``G_t = A_t + V(s_t)``. With the
default ``gae_lambda = 1`` that is the n-step advantage of the paper:
``G_t`` sums the rewards to the end of the rollout (or of the episode) and
bootstraps from the critic there, from ``V(s'_t)`` of the observation reached
on truncation and not at all on termination (:mod:`jaxrl.agents.onpolicy`).
``gae_lambda < 1`` gives GAE (Schulman et al., 2016).

Defaults follow Stable-Baselines3's A2C (16 envs x 5 steps, lr 7e-4, gradient
norm 0.5, value weight 0.5) with Adam (eps 1e-5) in place of RMSProp
(``optimizer="rmsprop"`` selects RMSProp, decay 0.99) and an entropy bonus of
0.01.
"""

import dataclasses
from typing import Any

import jax
from flax import struct

from jaxrl.agents import onpolicy
from jaxrl.ops import actor_critic_loss
from jaxrl.registry import AlgoSpec, register
from jaxrl.types import Trainer, hparam

__all__ = ["Config", "HParams", "loss", "make_train"]


@dataclasses.dataclass(frozen=True)
class Config(onpolicy.Config):
    """A2C's static settings; see :class:`jaxrl.agents.onpolicy.Config`.

    ``update_epochs`` and ``num_minibatches`` must stay 1: one gradient step
    per rollout (use ``ppo`` for several).
    """

    num_envs: int = 16
    num_steps: int = 5
    update_epochs: int = 1
    num_minibatches: int = 1
    anneal_lr: bool = False
    normalize_advantages: bool = False
    eval_every: int = 500

    def __post_init__(self):
        super().__post_init__()
        onpolicy.require_one_update("A2C", self)


@struct.dataclass
class HParams:
    """A2C's traced hyperparameters.

    Attributes:
        lr: step size, ``> 0``.
        gamma: discount, ``[0, 1]``.
        gae_lambda: GAE ``lambda``, ``[0, 1]``; 1 gives n-step returns.
        ent_coef: entropy bonus weight, ``>= 0``.
        vf_coef: value loss weight, ``>= 0``.
        max_grad_norm: global gradient norm clip, ``> 0`` (``inf``: none).
    """

    lr: float = hparam(7e-4, "(0, inf)")
    gamma: float = hparam(0.99, "[0, 1]")
    gae_lambda: float = hparam(1.0, "[0, 1]")
    ent_coef: float = hparam(0.01, "[0, inf)")
    vf_coef: float = hparam(0.5, "[0, inf)")
    max_grad_norm: float = hparam(0.5, "(0, inf]")


def loss(hp: HParams, b: onpolicy.LossInputs) -> tuple[jax.Array, dict]:
    """A2C's per-sample loss and its terms (``policy_loss``, ``value_loss``,
    ``entropy``); the loop averages them over the rollout."""
    total, aux = actor_critic_loss(
        b.log_prob,
        b.entropy,
        b.value,
        b.target,
        b.advantage,
        value_coef=hp.vf_coef,
        entropy_coef=hp.ent_coef,
    )
    return total, aux._asdict()


def make_train(config: Config, env: Any, env_params: Any) -> Trainer:
    """An A2C run on ``env`` (``Discrete`` or 1-D ``Box`` actions).

    Returns:
        A :class:`~jaxrl.types.Trainer` over
        :class:`~jaxrl.agents.onpolicy.OnPolicyState` with hyperparameters
        :class:`HParams`; metrics per iteration: ``env_steps``, ``return``,
        ``eval_return``, ``loss``, ``policy_loss``, ``value_loss``,
        ``entropy``.
    """
    if not isinstance(config, Config):
        raise ValueError(f"a2c.make_train needs an a2c.Config, got {config!r}")
    return onpolicy.make_on_policy_train(
        config, env, env_params, loss, lambda hp: hp.gae_lambda
    )


register(
    AlgoSpec(
        name="a2c",
        description="advantage actor-critic: n-step/GAE, one step per rollout",
        config_cls=Config,
        hparams_cls=HParams,
        make_train=make_train,
        env_kind="discrete",
        default_env="CartPole-v1",
    )
)
