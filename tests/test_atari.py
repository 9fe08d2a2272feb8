"""Atari through EnvPool: presets and options, the game score across lives,
truncation from the step count, and the Atari agents from the command line.

Atari frames are cheap to step but a Nature CNN is slow to compile on a CPU,
so the agent runs here are a few iterations of tiny batches."""

import numpy as np
import pytest

pytest.importorskip("envpool")

import envpool  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import envs  # noqa: E402
from envs import atari  # noqa: E402
from envs.vector import make_vec  # noqa: E402
from jaxrl import buffers  # noqa: E402
from jaxrl.agents.common import EpisodeStats  # noqa: E402
from jaxrl.cli import main  # noqa: E402


@pytest.mark.parametrize(
    "preset, shape, actions, options",
    [
        ("atari", (4, 84, 84), 4, dict(episodic_life=True, reward_clip=True)),
        ("machado", (4, 84, 84), 18, dict(repeat_action_probability=0.25)),
        ("world_model", (1, 64, 64), 18, dict(reward_clip=False, stack_num=1)),
        (
            "atari100k",
            (3, 64, 64),
            4,
            dict(
                gray_scale=False,
                stack_num=1,
                repeat_action_probability=0.0,
                noop_max=30,
                episodic_life=False,
                use_fire_reset=False,
                reward_clip=False,
                full_action_space=False,
                max_steps_in_episode=27_000,
            ),
        ),
    ],
)
def test_presets_give_their_observations_and_actions(preset, shape, actions, options):
    env, params = envs.make("envpool:Breakout-v5", preset=preset)
    space = env.observation_space(params)
    assert space.shape == shape and space.dtype == jnp.uint8
    assert env.action_space(params).n == actions
    assert params.preset == preset
    for name, value in options.items():
        assert getattr(params, name) == value
    # every option reaches envpool.make explicitly (its defaults differ)
    assert set(env.options(params)) == set(atari.OPTIONS)


def test_default_is_the_atari_preset_and_options_override_it():
    env, params = envs.make("envpool:Pong-v5")
    assert params.preset == "atari" and params.max_steps_in_episode == 27_000
    assert params.frame_skip == 4 and params.noop_max == 30
    _, params = envs.make("envpool:Pong-v5", preset="machado", noop_max=5)
    assert params.repeat_action_probability == 0.25 and params.noop_max == 5


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(frame_skip=0), "frame_skip=0 must be >= 1"),
        (dict(noop_max=0), "noop_max=0 must be >= 1"),
        (dict(repeat_action_probability=1.5), r"must be in \[0, 1\]"),
        (dict(preset="nope"), "unknown Atari preset 'nope'; allowed: atari, machado"),
        (dict(sticky=0.25), "no parameter.*allowed: .*repeat_action_probability"),
    ],
)
def test_bad_atari_options_say_what_is_allowed(overrides, message):
    with pytest.raises(ValueError, match=message):
        envs.make("envpool:Breakout-v5", **overrides)


def test_preset_on_a_non_atari_task_is_refused():
    with pytest.raises(ValueError, match="not an Atari task"):
        envs.make("envpool:CartPole-v1", preset="atari")


def _scripted(task, steps, num_envs=1, seed=3, **overrides):
    """Our adapter and a raw EnvPool pool of the same seed, fed the same
    actions; returns our steps (stacked) and the raw infos."""
    env, params = envs.make(f"envpool:{task}", **overrides)
    params = params.replace(seed=seed)
    n = env.action_space(params).n
    actions = np.random.default_rng(0).integers(0, n, (steps, num_envs))
    vec = make_vec(env, params, num_envs)

    def run(key):
        obs, state = vec.reset(key)

        def body(carry, action):
            state, stats = carry
            out = vec.step(key, state, action)
            stats, finished, count = stats.track(out)
            record = {
                "reward": out.reward,
                "score": out.score,
                "terminated": out.terminated,
                "truncated": out.truncated,
                "game_over": out.game_over,
                "valid": out.valid,
                "finished": finished,
                "count": count,
            }
            return (out.state, stats), record

        carry = (state, EpisodeStats.zeros(num_envs))
        return jax.lax.scan(body, carry, jnp.asarray(actions, jnp.int32))[1]

    ours = jax.tree.map(np.asarray, jax.jit(run)(jax.random.key(0)))
    raw = envpool.make(
        task,
        env_type="gymnasium",
        num_envs=num_envs,
        seed=seed,
        max_episode_steps=params.max_steps_in_episode,
        **env.options(params),
    )
    raw.reset()
    infos = []
    for action in actions:
        _, reward, term, trunc, info = raw.step(action)
        infos.append(dict(info, clipped=reward, term=term))
    raw_info = {k: np.stack([i[k] for i in infos]) for k in infos[0]}
    return ours, raw_info


def test_the_score_is_the_unclipped_reward_of_whole_games():
    # SpaceInvaders rewards 5 to 30 a kill, clipped to 1 for learning; with
    # episodic_life each lost life terminates the learner's episode, but the
    # game (and the score) goes on, with no reset step, until the last life.
    ours, raw = _scripted("SpaceInvaders-v5", 1500)
    valid, term = ours["valid"][:, 0], ours["terminated"][:, 0]
    over, lives = ours["game_over"][:, 0], raw["lives"][:, 0]
    score = np.where(valid, raw["reward"][:, 0], 0)
    np.testing.assert_array_equal(ours["score"][:, 0], score)
    assert ours["score"].max() > 1 and ours["reward"].max() == 1  # clipped
    lost = (lives[1:] < lives[:-1]) & (lives[1:] > 0)
    assert lost.sum() >= 3 and over.sum() >= 1
    np.testing.assert_array_equal(term[1:][lost], True)
    # invalid (EnvPool's reset) steps follow game overs only, not lost lives
    np.testing.assert_array_equal(~valid[1:], over[:-1])
    # one return per finished game: its unclipped score summed over lives
    ends = np.flatnonzero(over)
    starts = np.concatenate([[0], ends[:-1] + 1])
    games = [score[s : e + 1].sum() for s, e in zip(starts, ends, strict=True)]
    np.testing.assert_allclose(ours["finished"][ends], games)
    np.testing.assert_array_equal(ours["count"].sum(), len(ends))


def test_truncation_comes_from_the_step_count():
    # A 40-step cap: no random Breakout game ends that soon, so every game is
    # cut where EnvPool's step count reaches 40, and the next step is
    # EnvPool's reset. (The count is EnvPool's own: in Breakout it falls a
    # step behind the steps taken after a lost life.)
    ours, raw = _scripted("Breakout-v5", 200, max_steps_in_episode=40)
    truncated, valid = ours["truncated"][:, 0], ours["valid"][:, 0]
    cut = (raw["elapsed_step"][:, 0] >= 40) & valid
    np.testing.assert_array_equal(truncated, cut)
    assert truncated.sum() >= 3
    np.testing.assert_array_equal(~valid[1:], truncated[:-1])
    np.testing.assert_array_equal(ours["game_over"][:, 0], truncated)


def test_the_atari_replay_stores_each_frame_once():
    env, params = envs.make("envpool:Breakout-v5")
    obs = jax.ShapeDtypeStruct(env.observation_space(params).shape, jnp.uint8)
    example = buffers.Timestep(
        obs=jnp.zeros(obs.shape, obs.dtype),
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros(()),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        valid=jnp.ones((), bool),
    )
    buffer = buffers.uniform(10_000, 1, 32, frame_stack=4)
    state = jax.eval_shape(buffer.init, example)
    per_transition = buffers.nbytes(state) / 10_000
    assert 84 * 84 <= per_transition <= 7_200, per_transition


TINY = {
    "ppo": (
        "ppo-atari",
        ["num_envs=2", "num_steps=8", "total_timesteps=48", "num_minibatches=2"],
    ),
    "dqn": (
        "dqn-atari",
        ["total_timesteps=48", "buffer_size=64", "batch_size=4", "learning_starts=16"],
    ),
    "sac_discrete": (
        "sac_discrete-atari",
        ["total_timesteps=48", "buffer_size=64", "batch_size=4", "learning_starts=16"],
    ),
    "dreamer": (
        "dreamer-atari",
        [
            "total_timesteps=48",
            "buffer_size=64",
            "batch_size=2",
            "seq_length=8",
            "train_ratio=16",
            "learning_starts=16",
            "size=xs",
        ],
    ),
}


@pytest.mark.parametrize("algo", sorted(TINY))
def test_atari_agents_run_from_the_cli_and_resume(algo, tmp_path, capsys):
    preset, tiny = TINY[algo]
    argv = ["train", algo, "--env", "envpool:Breakout-v5", "--preset", preset]
    argv += ["--seeds", "2", "--quiet", "--chunks", "3"]
    argv += [x for t in tiny for x in ("--set", t)]
    out = tmp_path / "run"
    assert main(argv + ["--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "48 env steps = 192 frames per seed (frame skip 4)" in err
    assert "'return' is the game score" in err
    metrics = np.load(out / "metrics.npz")
    assert metrics["env_steps"].shape[0] == 2  # [seeds, iterations]
    assert metrics["env_steps"][0, -1] == 48
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    again = np.load(out / "metrics.npz")
    np.testing.assert_array_equal(again["env_steps"], metrics["env_steps"])


@pytest.mark.parametrize(
    "task, obs_dim, action_dim",
    [("HalfCheetah-v4", 17, 6), ("Hopper-v4", 11, 3), ("Walker2d-v4", 17, 6)],
)
def test_mujoco_tasks_give_their_spaces(task, obs_dim, action_dim):
    env, params = envs.make(f"envpool:{task}")
    assert env.observation_space(params).shape == (obs_dim,)
    space = env.action_space(params)
    assert space.shape == (action_dim,)
    np.testing.assert_array_equal(space.low, -1.0)
    np.testing.assert_array_equal(space.high, 1.0)


def test_sac_on_mujoco_runs_from_the_cli_and_resumes(tmp_path):
    argv = ["train", "sac", "--env", "envpool:Hopper-v4", "--preset", "sac-mujoco"]
    argv += ["--seeds", "2", "--quiet", "--chunks", "2"]
    for t in ("total_timesteps=32", "buffer_size=64", "batch_size=4"):
        argv += ["--set", t]
    argv += ["--set", "learning_starts=16", "--set", "hidden_sizes=[16,16]"]
    out = tmp_path / "run"
    assert main(argv + ["--out", str(out)]) == 0
    metrics = np.load(out / "metrics.npz")
    assert metrics["env_steps"][0, -1] == 32
    assert np.isfinite(metrics["critic_loss"][:, -1]).all()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    np.testing.assert_array_equal(
        np.load(out / "metrics.npz")["env_steps"], metrics["env_steps"]
    )
