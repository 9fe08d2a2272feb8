"""Unbatched, pure RL operations (rlax style).

Every op takes the arrays of a single transition (or a single trajectory for
the return ops), checks their shapes on entry and is batched by the caller
with :func:`jax.vmap`. Names carry a time suffix: ``q_tm1, a_tm1, r_t,
discount_t, q_t``. ``discount_t`` is ``gamma * (1 - terminated_t)``: it is zero
on termination and ``gamma`` on truncation, so truncated episodes bootstrap.
"""

from jaxrl.ops.dqn import double_dqn_loss, dqn_loss, huber_loss
from jaxrl.ops.policy import (
    ActorCriticAux,
    PPOAux,
    ReinforceAux,
    actor_critic_loss,
    categorical_entropy,
    categorical_log_prob,
    clipped_surrogate_loss,
    gaussian_entropy,
    gaussian_log_prob,
    ppo_loss,
    reinforce_loss,
)
from jaxrl.ops.returns import (
    generalized_advantage_estimation,
    lambda_returns,
    n_step_returns,
)
from jaxrl.ops.sac import (
    continuous_target_entropy,
    discrete_sac_actor_loss,
    discrete_sac_critic_loss,
    discrete_sac_critic_target,
    discrete_sac_temperature_loss,
    discrete_target_entropy,
    sac_actor_loss,
    sac_critic_loss,
    sac_critic_target,
    sac_temperature_loss,
    tanh_gaussian_log_prob,
    tanh_gaussian_sample,
    tanh_log_det_jacobian,
)
from jaxrl.ops.value import (
    double_q_learning,
    expected_sarsa,
    q_learning,
    sarsa,
    td_learning,
)

__all__ = [
    "ActorCriticAux",
    "PPOAux",
    "ReinforceAux",
    "actor_critic_loss",
    "categorical_entropy",
    "categorical_log_prob",
    "clipped_surrogate_loss",
    "continuous_target_entropy",
    "discrete_sac_actor_loss",
    "discrete_sac_critic_loss",
    "discrete_sac_critic_target",
    "discrete_sac_temperature_loss",
    "discrete_target_entropy",
    "double_dqn_loss",
    "double_q_learning",
    "dqn_loss",
    "expected_sarsa",
    "gaussian_entropy",
    "gaussian_log_prob",
    "generalized_advantage_estimation",
    "huber_loss",
    "lambda_returns",
    "n_step_returns",
    "ppo_loss",
    "q_learning",
    "reinforce_loss",
    "sac_actor_loss",
    "sac_critic_loss",
    "sac_critic_target",
    "sac_temperature_loss",
    "sarsa",
    "tanh_gaussian_log_prob",
    "tanh_gaussian_sample",
    "tanh_log_det_jacobian",
    "td_learning",
]
