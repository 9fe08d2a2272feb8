"""Atari settings for EnvPool's ``*-v5`` tasks: named presets and their params.

``envs.make("envpool:Breakout-v5")`` gives the ``atari`` preset;
``envs.make("envpool:Breakout-v5", preset="machado")`` another one, and any
option can be set on top (``repeat_action_probability=0.25``; on the command
line ``--set env.preset=machado --set env.noop_max=1``). Every option is
passed to ``envpool.make`` explicitly (all but the resize filter: EnvPool's
default area resize for every preset), because EnvPool's own defaults are none
of the presets (it has ``episodic_life=False`` and ``reward_clip=False``).

Presets:

- ``atari``: the protocol of DQN (Mnih et al., 2015) as OpenAI Baselines'
  wrappers and CleanRL's Atari scripts apply it: up to 30 no-op starts, each
  action repeated for 4 frames with the last two max-pooled, 84x84 gray frames
  stacked 4 deep (``[4, 84, 84]`` uint8), no sticky actions, FIRE pressed on
  reset, the minimal action set, a life loss ends the learner's episode
  (``episodic_life``), rewards clipped to their sign, and a cap of 27,000
  steps (108,000 frames).
- ``machado``: the revised protocol of Machado et al. (2018): sticky actions
  with probability 0.25, the full 18-action set, no life-loss signal, no
  no-op starts (``noop_max=1``) and no FIRE reset (stochasticity comes from the sticky
  actions); rewards still clipped for learning.
- ``world_model``: for a world model that sees one frame at a time and
  predicts the real reward: one 64x64 gray frame (``[1, 64, 64]``), no reward
  clipping, sticky actions 0.25, the full action set, no life-loss signal
  (DreamerV3's Atari settings, Hafner et al., 2023, except gray frames to
  keep a CPU run small).
- ``atari100k``: DreamerV3's Atari 100k env settings (its ``configs.yaml``,
  ``atari100k`` block, danijar/dreamerv3 at 423291a): one 64x64 **colour**
  frame (``[3, 64, 64]``, EnvPool's area resize, as its OpenCV one), up to
  30 no-op starts (EnvPool: 1 to 30; DreamerV3: 0 to 29), actions repeated
  4 frames (max-pooled), no sticky actions, the minimal action set, no
  life-loss signal, no FIRE reset, rewards not clipped, the 27,000-step cap
  (108,000 frames; a truncation here, an episode end there). The budget
  (100K steps = 400K frames) is the agent's ``total_timesteps``.

Scores: whatever the preset, a run's ``return`` metric is the **game score**:
the unclipped reward (EnvPool's ``info["reward"]``) summed over all lives
until the game is over, one value per finished game
(:mod:`envs.envpool_env`).
"""

from typing import Any

from flax import struct

from envs.envpool_env import EnvPoolParams

__all__ = ["OPTIONS", "PRESETS", "AtariParams", "is_atari", "with_preset"]

# The envpool.make options a preset sets (all of them, always passed).
OPTIONS = (
    "episodic_life",
    "reward_clip",
    "noop_max",
    "frame_skip",
    "stack_num",
    "img_height",
    "img_width",
    "gray_scale",
    "repeat_action_probability",
    "use_fire_reset",
    "full_action_space",
)

_ATARI = dict(
    max_steps_in_episode=27_000,
    episodic_life=True,
    reward_clip=True,
    noop_max=30,
    frame_skip=4,
    stack_num=4,
    img_height=84,
    img_width=84,
    gray_scale=True,
    repeat_action_probability=0.0,
    use_fire_reset=True,
    full_action_space=False,
)
_MACHADO = dict(
    _ATARI,
    episodic_life=False,
    noop_max=1,
    repeat_action_probability=0.25,
    use_fire_reset=False,
    full_action_space=True,
)
PRESETS: dict[str, dict[str, Any]] = {
    "atari": _ATARI,
    "machado": _MACHADO,
    "world_model": dict(
        _MACHADO, reward_clip=False, stack_num=1, img_height=64, img_width=64
    ),
    "atari100k": dict(
        _ATARI,
        episodic_life=False,
        reward_clip=False,
        stack_num=1,
        img_height=64,
        img_width=64,
        gray_scale=False,
        use_fire_reset=False,
    ),
}


@struct.dataclass
class AtariParams(EnvPoolParams):
    """An Atari pool's settings (all static: they shape the pool and its
    observations). ``preset`` names the preset the others started from; see
    the module docstring for each option's meaning."""

    preset: str = struct.field(pytree_node=False, default="atari")
    episodic_life: bool = struct.field(pytree_node=False, default=True)
    reward_clip: bool = struct.field(pytree_node=False, default=True)
    noop_max: int = struct.field(pytree_node=False, default=30)
    frame_skip: int = struct.field(pytree_node=False, default=4)
    stack_num: int = struct.field(pytree_node=False, default=4)
    img_height: int = struct.field(pytree_node=False, default=84)
    img_width: int = struct.field(pytree_node=False, default=84)
    gray_scale: bool = struct.field(pytree_node=False, default=True)
    repeat_action_probability: float = struct.field(pytree_node=False, default=0.0)
    use_fire_reset: bool = struct.field(pytree_node=False, default=True)
    full_action_space: bool = struct.field(pytree_node=False, default=False)

    def options(self) -> dict[str, Any]:
        """The ``envpool.make`` keyword arguments of these settings."""
        return {name: getattr(self, name) for name in OPTIONS}


def is_atari(spec_config: Any) -> bool:
    """Whether an EnvPool spec's config is an Atari task's."""
    return "repeat_action_probability" in getattr(spec_config, "_fields", ())


def with_preset(params: AtariParams, preset: str) -> AtariParams:
    """``params`` reset to ``preset``'s settings (seed and lanes kept)."""
    if preset not in PRESETS:
        raise ValueError(
            f"unknown Atari preset {preset!r}; allowed: {', '.join(PRESETS)}"
        )
    return params.replace(preset=preset, **PRESETS[preset])


def validate(name: str, params: AtariParams) -> None:
    """Raise ValueError naming the option and its allowed range."""
    checks = [
        ("frame_skip", params.frame_skip >= 1, ">= 1"),
        ("stack_num", params.stack_num >= 1, ">= 1"),
        (
            "noop_max",
            params.noop_max >= 1,
            ">= 1 (1: no no-op starts; EnvPool 1.2.5 crashes on 0)",
        ),
        ("img_height", params.img_height >= 36, ">= 36 (the Nature CNN's minimum)"),
        ("img_width", params.img_width >= 36, ">= 36 (the Nature CNN's minimum)"),
        (
            "repeat_action_probability",
            0.0 <= params.repeat_action_probability <= 1.0,
            "in [0, 1]",
        ),
        ("max_steps_in_episode", params.max_steps_in_episode >= 1, ">= 1"),
    ]
    for option, ok, allowed in checks:
        if not ok:
            raise ValueError(
                f"{name}: {option}={getattr(params, option)!r} must be {allowed}"
            )
