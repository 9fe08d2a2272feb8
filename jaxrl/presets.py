"""Named settings: an algorithm, an environment and typed values.

A preset is what ``jaxrl train ALGO --preset NAME`` expands to before the
user's own ``--set`` values (which win): the settings that
``experiments/sample_efficiency.py`` measures, found with vmapped sweeps
(``--sweep``) over 8 seeds from base seed 0 and reported on 32 other seeds
(base seed 1). The README's sample-efficiency table gives, for each,
the median environment steps to solve and the fraction of seeds solved within
the budget, with the command that measures them.

Each preset gives typed values in three sections: fields of the algorithm's
``Config``, of its ``HParams`` and of the environment's params;
:meth:`Preset.resolve` turns them into the instances (and the test suite
checks every one, so a misspelt field fails there). The module imports no JAX,
so that the CLI can list presets and refuse bad names at once.

    jaxrl train dqn --preset dqn-cartpole --seeds 32
    jaxrl list -v        # lists the presets too
"""

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["Preset", "PRESETS", "get", "names"]


def _text(value: Any) -> str:
    """A value as ``--set`` takes it: JSON (``0.001``, ``[64, 64]``, ``true``)."""
    return json.dumps(list(value) if isinstance(value, tuple) else value)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named setting of one algorithm on one environment.

    Attributes:
        algo: the registered algorithm (``jaxrl list``).
        env: the environment it is tuned for.
        config: fields of the algorithm's ``Config``, typed values.
        hparams: fields of the algorithm's ``HParams``, typed values.
        solved_at: the evaluation return that counts as solved; ``None`` for
            a task without a solve threshold (Atari, MuJoCo: the description
            names the published score to compare with).
        description: one line: what it is for and where it comes from.
        env_settings: fields of the environment's params, typed values.
    """

    algo: str
    env: str
    config: Mapping[str, Any]
    hparams: Mapping[str, Any]
    solved_at: float | None
    description: str
    env_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def settings(self) -> dict[str, str]:
        """``{key: JSON text}`` as ``--set`` takes them, every section."""
        values = {**self.config, **self.hparams, **self.env_settings}
        return {k: _text(v) for k, v in values.items()}

    def as_set_args(self) -> list[str]:
        """``["key=value", ...]``, what ``--set`` would be given."""
        return [f"{k}={v}" for k, v in self.settings.items()]

    def resolve(self) -> dict[str, Any]:
        """The typed run, as :func:`jaxrl.config.resolve` gives it: the
        algorithm's ``Config`` and ``HParams`` instances, the environment and
        its params (``{"spec", "config", "hparams", "env", "env_params", ...}``).
        """
        from jaxrl.config import resolve

        return resolve(self.algo, self.env, self.settings)


# What the DQN Atari presets share: one env, a 1M frame-once replay of 4-frame
# stacks, batch 32, a gradient step every 4 env steps, the Nature CNN, no
# gradient clipping, 10M env steps (40M frames).
_DQN_ATARI = dict(
    num_envs=1,
    total_timesteps=10_000_000,
    buffer_size=1_000_000,
    batch_size=32,
    train_freq=4,
    gradient_steps=1,
    torso="nature_cnn",
    frame_stack=4,
    double=False,
    max_grad_norm=float("inf"),
    eval_every=0,
)

# What the few-sample Dreamer presets share (chosen on CartPole-v1, then kept
# for Pendulum-v1 and MinAtar): batch 16 x 32, train ratio 256 (a gradient
# step every 2 env steps), 1,024 random steps first, actor and critic Adam 1e-4.
_DREAMER_FEW = dict(
    buffer_size=100_000,
    batch_size=16,
    seq_length=32,
    train_ratio=256,
    learning_starts=1_024,
)
_DREAMER_FEW_LR = dict(actor_lr=1e-4, critic_lr=1e-4)

# The MinAtar budgets: what a 2-core CPU runs over 8 seeds in minutes
# (experiments/minatar.py); Young & Tian (2019) train for 5M steps.
MINATAR_STEPS = 500_000
MINATAR_DQN_STEPS = 250_000
MINATAR_SAC_STEPS = 100_000
MINATAR_DREAMER_STEPS = 32_768

PRESETS: dict[str, Preset] = {
    "ppo-cartpole": Preset(
        algo="ppo",
        env="CartPole-v1",
        config=dict(
            num_envs=8,
            num_steps=32,
            total_timesteps=60_000,
            update_epochs=10,
            num_minibatches=4,
            anneal_lr=False,
            eval_every=4,
            eval_episodes=10,
        ),
        hparams=dict(lr=0.001, ent_coef=0.0),
        solved_at=475.0,
        description="PPO for few samples on CartPole-v1: short rollouts, 10 epochs",
    ),
    "a2c-cartpole": Preset(
        algo="a2c",
        env="CartPole-v1",
        config=dict(
            num_envs=8,
            num_steps=16,
            total_timesteps=100_000,
            normalize_advantages=True,
            eval_every=16,
            eval_episodes=10,
        ),
        hparams=dict(lr=0.001, gae_lambda=0.95, ent_coef=0.0),
        solved_at=475.0,
        description="A2C on CartPole-v1: 8 envs x 16 steps, GAE 0.95",
    ),
    "reinforce-cartpole": Preset(
        algo="reinforce",
        env="CartPole-v1",
        config=dict(
            num_envs=8,
            num_steps=128,
            total_timesteps=200_000,
            eval_every=4,
            eval_episodes=10,
        ),
        hparams=dict(lr=0.002, ent_coef=0.0),
        solved_at=475.0,
        description="REINFORCE with a value baseline on CartPole-v1",
    ),
    "dqn-cartpole": Preset(
        algo="dqn",
        env="CartPole-v1",
        config=dict(
            total_timesteps=30_000,
            buffer_size=30_000,
            batch_size=64,
            learning_starts=1_000,
            train_freq=1,
            target_update_every=100,
            hidden_sizes=(64, 64),
            eval_every=500,
            eval_episodes=10,
            double=True,
        ),
        hparams=dict(lr=0.0025, exploration_fraction=0.05, epsilon_end=0.02),
        solved_at=475.0,
        description="double DQN for few samples on CartPole-v1: a gradient step "
        "per env step, hard target copy every 100, epsilon decayed over 1.5k steps",
    ),
    "sac_discrete-cartpole": Preset(
        algo="sac_discrete",
        env="CartPole-v1",
        config=dict(
            total_timesteps=40_000,
            buffer_size=40_000,
            batch_size=64,
            learning_starts=1_000,
            hidden_sizes=(64, 64),
            eval_every=500,
            eval_episodes=10,
        ),
        hparams=dict(actor_lr=0.001, critic_lr=0.001),
        solved_at=475.0,
        description="SAC-discrete on CartPole-v1",
    ),
    "sac-pendulum": Preset(
        algo="sac",
        env="Pendulum-v1",
        config=dict(
            total_timesteps=10_000,
            buffer_size=10_000,
            batch_size=128,
            learning_starts=1_000,
            hidden_sizes=(64, 64),
            eval_every=500,
            eval_episodes=10,
        ),
        hparams=dict(actor_lr=0.001, critic_lr=0.001),
        solved_at=-200.0,
        description="SAC on Pendulum-v1: 64x64 networks, 1k random warm-up steps",
    ),
    "ppo-pendulum": Preset(
        algo="ppo",
        env="Pendulum-v1",
        config=dict(
            num_envs=8,
            num_steps=256,
            total_timesteps=1_024_000,
            update_epochs=10,
            num_minibatches=32,
            anneal_lr=False,
            eval_every=10,
            eval_episodes=10,
        ),
        hparams=dict(lr=3e-4, gamma=0.95, ent_coef=0.0),
        solved_at=-200.0,
        description="PPO on Pendulum-v1 (Gaussian policy): 8 envs x 256 "
        "steps, 10 epochs x 32 minibatches, Adam 3e-4, gamma 0.95, no entropy "
        "bonus, a greedy evaluation every 20,480 env steps",
    ),
    "ppo_gru-memorychain": Preset(
        algo="ppo",
        env="MemoryChain-bsuite",
        config=dict(
            gru_size=64,
            hidden_sizes=(64,),
            num_envs=16,
            num_steps=64,
            total_timesteps=150_000,
            update_epochs=4,
            num_minibatches=4,
            anneal_lr=False,
            eval_every=5,
            eval_episodes=64,
        ),
        hparams=dict(lr=0.001),
        env_settings={"memory_length": 15},
        solved_at=0.95,
        description="recurrent PPO (a GRU core) on bsuite's MemoryChain: recall "
        "the context shown at the start, 15 steps later; feed-forward PPO "
        "stays at chance (return 0)",
    ),
    # --- MinAtar (gymnax, pure JAX): pixels a CPU can learn from -------------
    "ppo-minatar": Preset(
        algo="ppo",
        env="Breakout-MinAtar",
        config=dict(
            num_envs=64,
            num_steps=128,
            total_timesteps=MINATAR_STEPS,
            update_epochs=4,
            num_minibatches=8,
            torso="minatar_cnn",
            anneal_lr=True,
            normalize_advantages=True,
            eval_every=0,
        ),
        hparams=dict(
            lr=5e-4,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.2,
            ent_coef=0.01,
            vf_coef=0.5,
            max_grad_norm=0.5,
        ),
        solved_at=None,
        description="PPO on the MinAtar games (Breakout-, SpaceInvaders-, "
        "Asterix-, Freeway-MinAtar) with the MinAtar CNN: 64 envs x 128 steps, "
        "4 epochs x 8 minibatches, lr 5e-4 annealed, as PureJaxRL's MinAtar PPO",
    ),
    "dqn-minatar": Preset(
        algo="dqn",
        env="Breakout-MinAtar",
        config=dict(
            num_envs=1,
            total_timesteps=MINATAR_DQN_STEPS,
            buffer_size=100_000,
            batch_size=32,
            learning_starts=5_000,
            train_freq=4,
            gradient_steps=1,
            target_update_every=250,  # gradient steps: 1,000 env steps
            torso="minatar_cnn",
            double=False,
            huber=True,
            max_grad_norm=float("inf"),
            eval_every=0,
        ),
        hparams=dict(
            lr=2.5e-4,
            gamma=0.99,
            tau=1.0,
            epsilon_start=1.0,
            epsilon_end=0.1,
            exploration_fraction=100_000 / MINATAR_DQN_STEPS,
            huber_delta=1.0,
        ),
        solved_at=None,
        description="DQN on the MinAtar games after Young & Tian (2019): the "
        "MinAtar CNN, 100K replay, batch 32, target copy every 1K env steps, "
        "Huber loss, epsilon 1 to 0.1 over 100K steps; a gradient step every 4 "
        "env steps (theirs: every step) and Adam 2.5e-4 (theirs: RMSProp)",
    ),
    "sac_discrete-minatar": Preset(
        algo="sac_discrete",
        env="Breakout-MinAtar",
        config=dict(
            num_envs=1,
            total_timesteps=MINATAR_SAC_STEPS,
            buffer_size=100_000,
            batch_size=64,
            learning_starts=5_000,
            train_freq=4,
            gradient_steps=1,
            target_update_every=1,
            torso="minatar_cnn",
            adam_eps=1e-4,
            eval_every=0,
        ),
        hparams=dict(
            actor_lr=3e-4,
            critic_lr=3e-4,
            alpha_lr=3e-4,
            gamma=0.99,
            tau=0.005,
            target_entropy_scale=0.5,
        ),
        solved_at=None,
        description="SAC-discrete on the MinAtar games with the MinAtar CNN per "
        "network: 100K replay, batch 64, a gradient step every 4 env steps, "
        "Polyak targets (tau 0.005), entropy target 0.5 log|A|",
    ),
    # --- Atari and MuJoCo through EnvPool (budgets of the published runs) -----
    "ppo-atari": Preset(
        algo="ppo",
        env="envpool:Breakout-v5",
        config=dict(
            num_envs=8,
            num_steps=128,
            total_timesteps=10_000_000,
            update_epochs=4,
            num_minibatches=4,
            torso="nature_cnn",
            anneal_lr=True,
            normalize_advantages=True,
            clip_value=True,
            eval_every=0,
        ),
        hparams=dict(
            lr=2.5e-4,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.1,
            value_clip_eps=0.1,
            ent_coef=0.01,
            vf_coef=0.5,
            max_grad_norm=0.5,
        ),
        solved_at=None,
        description="PPO on Atari as CleanRL's ppo_atari_envpool_xla_jax_scan: "
        "Nature CNN, 8 envs x 128 steps, 4 epochs x 4 minibatches, 10M steps "
        "(published game scores: Breakout ~421, Pong 20.8, BeamRider ~2,700-2,900)",
    ),
    "dqn-atari": Preset(
        algo="dqn",
        env="envpool:Breakout-v5",
        config=dict(
            _DQN_ATARI,
            learning_starts=80_000,
            target_update_every=250,  # gradient steps: 1,000 env steps
            huber=False,
        ),
        hparams=dict(
            lr=1e-4,
            gamma=0.99,
            tau=1.0,
            epsilon_start=1.0,
            epsilon_end=0.01,
            exploration_fraction=0.1,
        ),
        solved_at=None,
        description="DQN on Atari as CleanRL's dqn_atari_jax: Nature CNN, 1M "
        "frame-once replay, squared TD error, Adam 1e-4, target copy every 1K "
        "steps, 10M steps (published: Pong ~20.4, Breakout ~378, BeamRider ~5,938)",
    ),
    "dqn-atari-dopamine": Preset(
        algo="dqn",
        env="envpool:Breakout-v5",
        config=dict(
            _DQN_ATARI,
            learning_starts=20_000,
            target_update_every=2_000,  # gradient steps: 8,000 env steps
            huber=True,
            adam_eps=1.5e-4,
        ),
        hparams=dict(
            lr=6.25e-5,
            gamma=0.99,
            tau=1.0,
            epsilon_start=1.0,
            epsilon_end=0.01,
            exploration_fraction=0.025,  # 250K of 10M steps
            huber_delta=1.0,
        ),
        solved_at=None,
        description="DQN on Atari with Dopamine's settings: Adam 6.25e-5 (eps "
        "1.5e-4), Huber loss, 20K warm-up, target every 8K steps, epsilon to "
        "0.01 over 250K steps",
    ),
    "sac_discrete-atari": Preset(
        algo="sac_discrete",
        env="envpool:Breakout-v5",
        config=dict(
            num_envs=1,
            total_timesteps=5_000_000,
            buffer_size=1_000_000,
            batch_size=64,
            learning_starts=20_000,
            train_freq=4,
            gradient_steps=1,
            target_update_every=2_000,  # gradient steps: 8,000 env steps
            torso="nature_cnn",
            frame_stack=4,
            adam_eps=1e-4,
            eval_every=0,
        ),
        hparams=dict(
            actor_lr=3e-4,
            critic_lr=3e-4,
            alpha_lr=3e-4,
            gamma=0.99,
            tau=1.0,
            target_entropy_scale=0.89,
        ),
        solved_at=None,
        description="SAC-discrete on Atari as CleanRL's sac_atari: a Nature CNN "
        "per network, 1M frame-once replay, hard target copy every 8K steps, "
        "entropy target 0.89 log|A|, 5M steps",
    ),
    "dreamer-cartpole": Preset(
        algo="dreamer",
        env="CartPole-v1",
        config=dict(
            _DREAMER_FEW, total_timesteps=6_144, eval_every=256, eval_episodes=10
        ),
        hparams=_DREAMER_FEW_LR,
        solved_at=475.0,
        description="Dreamer for few samples on CartPole-v1: batch 16 x 32, "
        "train ratio 256 (a gradient step every 2 env steps), actor and critic "
        "Adam 1e-4, the xs model",
    ),
    "dreamer-pendulum": Preset(
        algo="dreamer",
        env="Pendulum-v1",
        config=dict(
            _DREAMER_FEW, total_timesteps=8_192, eval_every=512, eval_episodes=5
        ),
        hparams=_DREAMER_FEW_LR,
        solved_at=-200.0,
        description="Dreamer on Pendulum-v1 (continuous actions, gradients "
        "through the model): dreamer-cartpole's settings, 8,192 env steps, "
        "a greedy evaluation of 5 episodes every 1,024 env steps",
    ),
    "dreamer-minatar": Preset(
        algo="dreamer",
        env="Breakout-MinAtar",
        config=dict(
            _DREAMER_FEW,
            total_timesteps=MINATAR_DREAMER_STEPS,
            train_ratio=128,
            torso="minatar_cnn",
            eval_every=0,
        ),
        hparams=_DREAMER_FEW_LR,
        solved_at=None,
        description="Dreamer on a MinAtar game from its [10, 10, C] frames "
        "(the MinAtar CNN encoder): batch 16 x 32, train ratio 128 (a gradient "
        "step every 4 env steps), actor and critic Adam 1e-4, the xs model, "
        f"{MINATAR_DREAMER_STEPS:,} env steps",
    ),
    "dreamer-atari": Preset(
        algo="dreamer",
        env="envpool:Pong-v5",
        config=dict(
            num_envs=1,
            total_timesteps=100_000,
            buffer_size=100_000,
            batch_size=16,
            seq_length=64,
            train_ratio=1024,
            learning_starts=1_024,
            size="dreamerv3-s",
            torso="nature_cnn",
            eval_every=0,
        ),
        hparams=dict(actor_lr=3e-5, critic_lr=3e-5),
        env_settings={"preset": "atari100k"},
        solved_at=None,
        description="Dreamer on Atari 100k with DreamerV3's env and training "
        "settings (configs.yaml at 423291a): 100K env steps = 400K frames, "
        "train ratio 1024, batch 16 x 64, the S size's RSSM and MLPs (the "
        "Nature CNN encoder), the atari100k env preset (one 64x64 colour "
        "frame, no sticky actions, rewards not clipped); GPU work",
    ),
    "sac-mujoco": Preset(
        algo="sac",
        env="envpool:HalfCheetah-v4",
        config=dict(
            num_envs=1,
            total_timesteps=1_000_000,
            buffer_size=1_000_000,
            batch_size=256,
            learning_starts=10_000,
            hidden_sizes=(256, 256),
            eval_every=0,
        ),
        hparams=dict(
            actor_lr=3e-4,
            critic_lr=3e-4,
            alpha_lr=3e-4,
            gamma=0.99,
            tau=0.005,
        ),
        solved_at=None,
        description="SAC on EnvPool MuJoCo (HalfCheetah-v4, Hopper-v4, "
        "Walker2d-v4) with Haarnoja et al. (2018b)'s settings: 256x256 "
        "networks, Adam 3e-4, batch 256, tau 0.005, 10K random steps, 1M steps",
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
