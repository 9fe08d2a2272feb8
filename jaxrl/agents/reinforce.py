"""REINFORCE with a learned state-value baseline (Williams, 1992; Sutton & Barto,
2018, section 13.4).

Each iteration collects ``num_steps`` steps from ``num_envs`` environments and
takes one gradient step on (:func:`jaxrl.ops.reinforce_loss`)::

    L = -log pi(a_t|s_t) (G_t - V(s_t)) + vf_coef * 0.5 (G_t - V(s_t))**2
        - ent_coef * H(pi(.|s_t))

with ``G_t - V(s_t)`` held fixed in the policy term. ``G_t`` is the
Monte-Carlo return *within the rollout*: the discounted sum of the rewards to
the end of the episode, or, for an episode still running when the rollout is
cut, to the cut plus ``gamma^k V(s_cut)`` from the critic (the loop's
:func:`~jaxrl.agents.onpolicy.compute_advantages` with ``lambda = 1``). It is
the full-episode Monte-Carlo return whenever the episode ends inside the
rollout by termination; it bootstraps from ``V(s'_t)`` when a time limit
truncates the episode (:mod:`jaxrl.agents.onpolicy`). Make ``num_steps``
longer than the episodes for textbook REINFORCE; a shorter rollout trades
variance for the critic's bias, like A2C with ``lambda = 1``.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.agents import onpolicy
from jaxrl.ops import reinforce_loss
from jaxrl.registry import AlgoSpec, register
from jaxrl.types import Trainer, hparam

__all__ = ["Config", "HParams", "loss", "make_train"]


@dataclasses.dataclass(frozen=True)
class Config(onpolicy.Config):
    """REINFORCE's static settings; see :class:`jaxrl.agents.onpolicy.Config`.

    ``update_epochs`` and ``num_minibatches`` must stay 1 (one gradient step
    per rollout, on-policy). ``normalize_advantages`` standardises
    ``G_t - V(s_t)`` over the rollout.
    """

    num_envs: int = 8
    num_steps: int = 128
    update_epochs: int = 1
    num_minibatches: int = 1
    anneal_lr: bool = False
    normalize_advantages: bool = True
    eval_every: int = 50

    def __post_init__(self):
        super().__post_init__()
        onpolicy.require_one_update("REINFORCE", self)


@struct.dataclass
class HParams:
    """REINFORCE's traced hyperparameters.

    Attributes:
        lr: Adam step size, ``> 0``.
        gamma: discount, ``[0, 1]``.
        ent_coef: entropy bonus weight, ``>= 0``.
        vf_coef: weight of the baseline's regression loss, ``>= 0``.
        max_grad_norm: global gradient norm clip, ``> 0`` (``inf``: none).
    """

    lr: float = hparam(1e-3, "(0, inf)")
    gamma: float = hparam(0.99, "[0, 1]")
    ent_coef: float = hparam(0.01, "[0, inf)")
    vf_coef: float = hparam(0.5, "[0, inf)")
    max_grad_norm: float = hparam(0.5, "(0, inf]")


def loss(hp: HParams, b: onpolicy.LossInputs) -> tuple[jax.Array, dict]:
    """REINFORCE's per-sample loss and its terms (``policy_loss``,
    ``value_loss``, ``entropy``); the loop averages them over the rollout.

    With ``lambda = 1`` the loop's advantage is ``G_t - V_old(s_t)``, the
    return minus the baseline (standardised when ``normalize_advantages``);
    it enters :func:`~jaxrl.ops.reinforce_loss` as the centred return, with a
    zero baseline. The baseline itself regresses on ``G_t``.
    """
    zero = jnp.zeros_like(b.advantage)
    policy_loss, _ = reinforce_loss(b.log_prob, b.advantage, zero)
    value_loss = 0.5 * (b.target - b.value) ** 2
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * b.entropy
    return total, {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": b.entropy,
    }


def make_train(config: Config, env: Any, env_params: Any) -> Trainer:
    """A REINFORCE run on ``env`` (``Discrete`` or 1-D ``Box`` actions).

    Returns:
        A :class:`~jaxrl.types.Trainer` over
        :class:`~jaxrl.agents.onpolicy.OnPolicyState` with hyperparameters
        :class:`HParams`; metrics per iteration: ``env_steps``, ``return``,
        ``eval_return``, ``loss``, ``policy_loss``, ``value_loss``,
        ``entropy``.
    """
    if not isinstance(config, Config):
        raise ValueError(
            f"reinforce.make_train needs a reinforce.Config, got {config!r}"
        )
    return onpolicy.make_on_policy_train(
        config, env, env_params, loss, lambda hp: jnp.float32(1.0)
    )


register(
    AlgoSpec(
        name="reinforce",
        description="REINFORCE with a value baseline, MC returns within the rollout",
        config_cls=Config,
        hparams_cls=HParams,
        make_train=make_train,
        env_kind="discrete",
        default_env="CartPole-v1",
    )
)
