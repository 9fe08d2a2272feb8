"""Named settings: an algorithm, an environment and ``--set`` values.

A preset is what ``jaxrl train ALGO --preset NAME`` expands to before the
user's own ``--set`` values (which win): the settings that
``experiments/sample_efficiency.py`` measures, found with vmapped sweeps
(``--sweep``) over 8 seeds from base seed 0 and reported on 32 other seeds
(base seed 1). The README's sample-efficiency table gives, for each,
the median environment steps to solve and the fraction of seeds solved within
the budget, with the command that measures them.

    jaxrl train dqn --preset dqn-cartpole --seeds 32
    jaxrl list -v        # lists the presets too
"""

import dataclasses
from collections.abc import Mapping

__all__ = ["Preset", "PRESETS", "get", "names"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named setting of one algorithm on one environment.

    Attributes:
        algo: the registered algorithm (``jaxrl list``).
        env: the environment it is tuned for.
        settings: ``key -> value`` as ``--set`` takes them (JSON text).
        solved_at: the evaluation return that counts as solved.
        description: one line: what it is for and where it comes from.
    """

    algo: str
    env: str
    settings: Mapping[str, str]
    solved_at: float
    description: str

    def as_set_args(self) -> list[str]:
        """``["key=value", ...]``, what ``--set`` would be given."""
        return [f"{k}={v}" for k, v in self.settings.items()]


PRESETS: dict[str, Preset] = {
    "ppo-cartpole": Preset(
        algo="ppo",
        env="CartPole-v1",
        settings={
            "num_envs": "8",
            "num_steps": "32",
            "total_timesteps": "60000",
            "update_epochs": "10",
            "num_minibatches": "4",
            "anneal_lr": "false",
            "lr": "0.001",
            "ent_coef": "0.0",
            "eval_every": "4",
            "eval_episodes": "10",
        },
        solved_at=475.0,
        description="PPO for few samples on CartPole-v1: short rollouts, 10 epochs",
    ),
    "a2c-cartpole": Preset(
        algo="a2c",
        env="CartPole-v1",
        settings={
            "num_envs": "8",
            "num_steps": "16",
            "total_timesteps": "100000",
            "normalize_advantages": "true",
            "lr": "0.001",
            "gae_lambda": "0.95",
            "ent_coef": "0.0",
            "eval_every": "16",
            "eval_episodes": "10",
        },
        solved_at=475.0,
        description="A2C on CartPole-v1: 8 envs x 16 steps, GAE 0.95",
    ),
    "reinforce-cartpole": Preset(
        algo="reinforce",
        env="CartPole-v1",
        settings={
            "num_envs": "8",
            "num_steps": "128",
            "total_timesteps": "200000",
            "lr": "0.002",
            "ent_coef": "0.0",
            "eval_every": "4",
            "eval_episodes": "10",
        },
        solved_at=475.0,
        description="REINFORCE with a value baseline on CartPole-v1",
    ),
    "dqn-cartpole": Preset(
        algo="dqn",
        env="CartPole-v1",
        settings={
            "total_timesteps": "30000",
            "buffer_size": "30000",
            "batch_size": "64",
            "learning_starts": "1000",
            "train_freq": "1",
            "target_update_every": "100",
            "hidden_sizes": "[64, 64]",
            "eval_every": "500",
            "eval_episodes": "10",
            "double": "true",
            "lr": "0.0025",
            "exploration_fraction": "0.05",
            "epsilon_end": "0.02",
        },
        solved_at=475.0,
        description="double DQN for few samples on CartPole-v1: a gradient step "
        "per env step, hard target copy every 100, epsilon decayed over 1.5k steps",
    ),
    "sac_discrete-cartpole": Preset(
        algo="sac_discrete",
        env="CartPole-v1",
        settings={
            "total_timesteps": "40000",
            "buffer_size": "40000",
            "batch_size": "64",
            "learning_starts": "1000",
            "hidden_sizes": "[64, 64]",
            "eval_every": "500",
            "eval_episodes": "10",
            "actor_lr": "0.001",
            "critic_lr": "0.001",
        },
        solved_at=475.0,
        description="SAC-discrete on CartPole-v1",
    ),
    "sac-pendulum": Preset(
        algo="sac",
        env="Pendulum-v1",
        settings={
            "total_timesteps": "10000",
            "buffer_size": "10000",
            "batch_size": "128",
            "learning_starts": "1000",
            "hidden_sizes": "[64, 64]",
            "eval_every": "500",
            "eval_episodes": "10",
            "actor_lr": "0.001",
            "critic_lr": "0.001",
        },
        solved_at=-200.0,
        description="SAC on Pendulum-v1: 64x64 networks, 1k random warm-up steps",
    ),
}


def names() -> list[str]:
    return sorted(PRESETS)


def get(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` listing them if unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; allowed: {', '.join(names())}"
        ) from None
