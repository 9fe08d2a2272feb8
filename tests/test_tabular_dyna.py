"""Dyna-Q and Dyna-Q+ (S&B 8.2-8.3) and the Dyna mazes: updates and the bonus
by hand, the learned model after a scripted walk, equivalence with a naive
NumPy loop and with Q-learning, vmap over seeds equals a loop, learning on the
Dyna maze, and the blocking/shortcut mazes' change."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiles import count_compilations

import envs
from envs.grid import MazeState
from jaxrl.ops import value as value_ops
from jaxrl.tabular import control, dp, dyna

MAZE, MAZE_PARAMS = envs.make("DynaMaze-v0")
W = MAZE_PARAMS.width  # s = row * 9 + col
UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
HP = dyna.DynaHParams()  # alpha 0.1, epsilon 0.1, gamma 0.95
HP_PLUS = dyna.DynaPlusHParams(kappa=0.01)


def cell(r, c):
    return r * W + c


# --- pure functions by hand -------------------------------------------------


def _model_with(pairs, S=6, A=4):
    """A model where ``pairs`` ``[(s, a, s1, r, terminated, t)]`` were seen."""
    model = dyna.init_model(S, A)
    for s, a, s1, r, term, t in pairs:
        model = dyna.model_update(model, s, a, r, term, s1, t)
    return model


def test_planning_update_by_hand():
    model = _model_with([(3, 1, 4, 1.0, False, 1), (2, 0, 5, 1.0, True, 2)])
    q = jnp.zeros((6, 4)).at[4].set(jnp.array([0.0, 2.0, 0.0, -1.0]))
    q = q.at[3, 1].set(0.5).at[2, 0].set(0.5)
    # Q(3, 1) + alpha (r + gamma max_b Q(4, b) - Q(3, 1))
    #   = 0.5 + 0.1 (1 + 0.95 * 2 - 0.5) = 0.74
    q1 = dyna.planning_step(q, model, 3, 1, 2, HP)
    np.testing.assert_allclose(q1[3, 1], 0.74, rtol=1e-6)
    np.testing.assert_array_equal(q1.at[3, 1].set(q[3, 1]), q)  # nothing else
    # A terminal transition does not bootstrap: 0.5 + 0.1 (1 - 0.5) = 0.55.
    q2 = dyna.planning_step(q, model, 2, 0, 2, HP)
    np.testing.assert_allclose(q2[2, 0], 0.55, rtol=1e-6)
    # plan() applies the updates in order to the sampled pairs: the two
    # uniforms 0.25 and 0.75 pick state 2 (lower half) then state 3, each
    # with its only observed action.
    s, a = dyna.sample_pairs(model, jnp.array([0.25, 0.75]), jnp.array([0.9, 0.1]))
    np.testing.assert_array_equal(s, [2, 3])
    np.testing.assert_array_equal(a, [0, 1])
    q3 = dyna.plan(q, model, jnp.array([0.25, 0.75]), jnp.array([0.9, 0.1]), 2, HP)
    np.testing.assert_allclose(q3[2, 0], 0.55, rtol=1e-6)
    np.testing.assert_allclose(q3[3, 1], 0.74, rtol=1e-6)


def test_planning_samples_a_state_then_one_of_its_actions():
    # Observed pairs (0, 0), (0, 1), (2, 3): the book's "random previously
    # observed state, then a random action previously taken in it" gives
    # state 0 and state 2 half each, and (0, 0), (0, 1) a quarter each.
    model = _model_with([(0, 0, 1, 0.0, False, 1), (0, 1, 1, 0.0, False, 2)])
    model = dyna.model_update(model, 2, 3, 0.0, False, 1, 3)
    grid = (jnp.arange(20) + 0.5) / 20
    u, v = jnp.repeat(grid, 20), jnp.tile(grid, 20)  # an even 20 x 20 grid
    n = u.shape[0]
    s, a = dyna.sample_pairs(model, u, v)
    pairs = {(int(x), int(y)) for x, y in zip(s, a, strict=True)}
    assert pairs == {(0, 0), (0, 1), (2, 3)}
    counts = np.bincount(np.asarray(s) * 4 + np.asarray(a), minlength=24)
    np.testing.assert_allclose(counts[[0, 1, 11]] / n, [0.25, 0.25, 0.5], atol=0.01)
    # Dyna-Q+ draws any action of a visited state, never an unvisited state.
    s, a = dyna.sample_pairs(model, u, v, untried=True)
    assert set(np.asarray(s).tolist()) == {0, 2}
    np.testing.assert_allclose(np.bincount(np.asarray(a), minlength=4) / n, 0.25)


def test_dyna_q_plus_bonus_by_hand():
    # (5, 2) was last tried at step 3, reward 0.5 to state 1 (Q(1) = 0); at
    # step 12, tau = 9: R + kappa sqrt(tau) = 0.5 + 0.01 * 3 = 0.53, and
    # Q(5, 2) = 0 + 0.1 * 0.53 = 0.053.
    model = _model_with([(5, 2, 1, 0.5, False, 3)])
    q = jnp.zeros((6, 4))
    q1 = dyna.planning_step(q, model, 5, 2, 12, HP_PLUS, plus=True)
    np.testing.assert_allclose(q1[5, 2], 0.053, rtol=1e-6)
    np.testing.assert_allclose(dyna.exploration_bonus(0.01, 9.0), 0.03, rtol=1e-6)
    # Dyna-Q ignores the bonus: 0.1 * 0.5.
    np.testing.assert_allclose(dyna.planning_step(q, model, 5, 2, 12, HP)[5, 2], 0.05)
    # An untried action of a visited state leads back to the same state with
    # reward 0, tau counting from the start (never tried: last_tried 0):
    # Q(5, 0) = 0.1 (0 + 0.01 sqrt(16) + 0.95 max_b Q(5, b)),
    # max_b Q(5, b) = 0.2 here, so 0.1 (0.04 + 0.19) = 0.023.
    q = q.at[5, 3].set(0.2)
    q2 = dyna.planning_step(q, model, 5, 0, 16, HP_PLUS, plus=True)
    np.testing.assert_allclose(q2[5, 0], 0.023, rtol=1e-5)


# --- the learned model after a scripted walk --------------------------------

# From the start (2, 0): right to (2, 1), right into the wall at (2, 2) (a
# bump: stay, reward 0), then the 13 moves that finish the 14-step path:
# down, down, right, right, up, right x 5, up x 3, the last into the goal.
SCRIPT = [RIGHT, RIGHT, DOWN, DOWN, RIGHT, RIGHT, UP] + [RIGHT] * 5 + [UP] * 3
CELLS = [(2, 0), (2, 1), (2, 1), (3, 1), (4, 1), (4, 2), (4, 3), (3, 3), (3, 4)]
CELLS += [(3, 5), (3, 6), (3, 7), (3, 8), (2, 8), (1, 8), (0, 8)]


def _scripted(config, script, hparams):
    """Run ``make_step`` with epsilon = 1, each action's uniform set to pick
    it (the uniform policy: [a/4, (a+1)/4) picks a)."""
    step = dyna.make_step(config, MAZE, MAZE_PARAMS)
    trainer = dyna.make_train(config, MAZE, MAZE_PARAMS)
    state = trainer.init(jax.random.key(0), hparams.replace(epsilon=1.0))
    width = dyna.num_uniforms(config)
    u = (
        jnp.full((len(script), width), 0.5)
        .at[:, 0]
        .set((jnp.asarray(script) + 0.5) / 4)
    )

    def body(state, u):
        state, r, term, trunc = step(state, jax.random.key(0), u)
        return state, (state.obs, r, term)

    return jax.lax.scan(body, state, u)


def test_learned_model_after_a_scripted_walk():
    config = dyna.DynaQConfig(planning_steps=0)
    state, (obs, r, term) = _scripted(config, SCRIPT, HP)
    path = [cell(*c) for c in CELLS]
    # Auto-reset: after the goal the agent is back at the start.
    np.testing.assert_array_equal(obs, path[1:-1] + [path[0]])
    np.testing.assert_array_equal(r, [0.0] * 14 + [1.0])
    np.testing.assert_array_equal(term, [False] * 14 + [True])
    m = state.model
    seen = {(path[i], a) for i, a in enumerate(SCRIPT)}
    assert {tuple(x) for x in np.argwhere(np.asarray(m.observed))} == seen
    for i, a in enumerate(SCRIPT):
        s = path[i]
        assert int(m.next_state[s, a]) == path[i + 1]  # the goal, not the reset
        assert float(m.reward[s, a]) == (1.0 if i == len(SCRIPT) - 1 else 0.0)
        assert bool(m.terminated[s, a]) == (i == len(SCRIPT) - 1)
    # The bump: (2, 1) right stays put; tried at real step 2.
    assert int(m.next_state[cell(2, 1), RIGHT]) == cell(2, 1)
    assert int(m.last_tried[cell(2, 1), RIGHT]) == 2
    assert int(m.last_tried[path[-2], UP]) == 15 == int(state.t)
    # Untried pairs keep the initial self-loop with reward 0.
    assert int(m.next_state[cell(0, 0), LEFT]) == cell(0, 0)
    assert float(m.reward.sum()) == 1.0
    # Only the last transition carries reward, and without planning only
    # Q(goal's neighbour, up) moved: 0.1 * 1.
    q = np.asarray(state.q)
    assert q[path[-2], UP] == pytest.approx(0.1)
    assert np.count_nonzero(q) == 1


# --- equivalence with a naive NumPy loop and with Q-learning ----------------


def _np_epsilon_greedy(u, q_row, eps):
    is_max = (q_row == q_row.max()).astype(np.float32)
    probs = np.float32(eps) / len(q_row) + np.float32(1 - eps) * is_max / is_max.sum()
    return _np_inverse_cdf(u, probs.astype(np.float32))


def _np_inverse_cdf(u, probs):
    cdf = np.cumsum(probs, dtype=np.float32)
    a = int(np.sum(cdf <= np.float32(u) * cdf[-1]))
    return min(a, int(np.max(np.where(probs > 0, np.arange(len(probs)), 0))))


def _np_dyna(us, n, plus, hp, model_fn):
    """The book's tabular Dyna-Q (+) loop in plain NumPy, fed the uniforms
    the JAX step reads (action, n planning states, n planning actions)."""
    S, A = MAZE.num_states(MAZE_PARAMS), 4
    q = np.zeros((S, A), np.float32)
    nxt = np.repeat(np.arange(S)[:, None], A, 1)
    rew, term = np.zeros((S, A), np.float32), np.zeros((S, A), bool)
    seen, last = np.zeros((S, A), bool), np.zeros((S, A), np.int64)
    start = s = cell(*MAZE_PARAMS.start)
    actions = []

    def update(s, a, r, done, s1):
        target = r + (0.0 if done else hp.gamma) * q[s1].max()
        q[s, a] = q[s, a] + hp.alpha * (target - q[s, a])

    for t, u in enumerate(us, start=1):
        a = _np_epsilon_greedy(u[0], q[s], hp.epsilon)
        actions.append(a)
        s1, r, done = model_fn(s, a)
        update(s, a, r, done, s1)
        nxt[s, a], rew[s, a], term[s, a], seen[s, a], last[s, a] = s1, r, done, 1, t
        visited = seen.any(1).astype(np.float32)
        for k in range(n):
            ps = _np_inverse_cdf(u[1 + k], visited)
            allowed = np.ones(A, np.float32) if plus else seen[ps].astype(np.float32)
            pa = _np_inverse_cdf(u[1 + n + k], allowed)
            r_plan = rew[ps, pa]
            if plus:
                r_plan = r_plan + hp.kappa * np.sqrt(t - last[ps, pa])
            update(ps, pa, r_plan, term[ps, pa], nxt[ps, pa])
        s = start if done else s1
    return q, np.asarray(actions)


def _maze_model_fn():
    model = MAZE.model(MAZE_PARAMS)
    nxt = np.asarray(jnp.argmax(model.P, -1))
    R, T = np.asarray(model.R), np.asarray(model.terminal)
    return lambda s, a: (int(nxt[s, a]), np.float32(R[s, a]), bool(T[nxt[s, a]]))


STEPS = 3000


@pytest.mark.parametrize("n,plus", [(0, False), (5, False), (5, True)])
def test_step_equals_a_naive_numpy_loop(n, plus):
    algorithm = "dyna_q_plus" if plus else "dyna_q"
    config = dyna.DynaConfig(algorithm=algorithm, planning_steps=n)
    hp = HP_PLUS if plus else HP
    step = dyna.make_step(config, MAZE, MAZE_PARAMS)
    state = dyna.make_train(config, MAZE, MAZE_PARAMS).init(jax.random.key(0), hp)
    us = jax.random.uniform(jax.random.key(3), (STEPS, 1 + 2 * n))

    def body(state, u):
        s = state.obs
        state, *_ = step(state, jax.random.key(0), u)
        # The action taken is the one whose model entry was stamped now.
        return state, jnp.argmax(state.model.last_tried[s])

    state, actions = jax.jit(lambda state: jax.lax.scan(body, state, us))(state)
    q_np, actions_np = _np_dyna(np.asarray(us), n, plus, hp, _maze_model_fn())
    np.testing.assert_array_equal(actions, actions_np)
    # The goal was reached (the first episode takes hundreds of steps).
    assert int(state.t) == STEPS and np.asarray(q_np).max() > 0
    np.testing.assert_allclose(state.q, q_np, rtol=1e-5, atol=1e-7)


def test_zero_planning_steps_is_q_learning():
    # Each real step of Dyna-Q with n = 0 changes exactly Q(S, A), by
    # alpha * the Q-learning TD error of the tabular control module.
    config = dyna.DynaQConfig(planning_steps=0)
    step = jax.jit(dyna.make_step(config, MAZE, MAZE_PARAMS))
    state = dyna.make_train(config, MAZE, MAZE_PARAMS).init(jax.random.key(0), HP)
    state = state.replace(q=jax.random.uniform(jax.random.key(1), state.q.shape))
    for u in jax.random.uniform(jax.random.key(2), (30, 1)):
        s, q = int(state.obs), state.q
        state, r, term, _ = step(state, jax.random.key(0), u)
        a = int(jnp.argmax(state.model.last_tried[s]))
        s1 = int(state.model.next_state[s, a])
        discount = HP.gamma * (1.0 - float(term))
        delta = control.td_error("q_learning", q, s, a, r, discount, s1, 0, 0.1)
        np.testing.assert_allclose(
            delta, value_ops.q_learning(q[s], a, r, discount, q[s1])
        )
        expected = q.at[s, a].set(q[s, a] + HP.alpha * delta)
        np.testing.assert_allclose(state.q, expected, rtol=1e-6)


# --- runners: vmap equals a loop, same bits, learning -----------------------

BLOCKING, BLOCKING_PARAMS = envs.make("BlockingMaze-v0", change_at=150)
PLUS_STEPS = dyna.DynaQPlusConfig(
    planning_steps=3, num_steps=300, steps_per_iteration=100
)
PLUS_TRAIN = dyna.make_train(PLUS_STEPS, BLOCKING, BLOCKING_PARAMS)
PLUS_ONE = jax.jit(PLUS_TRAIN)
PLUS_VMAP = jax.jit(jax.vmap(PLUS_TRAIN, (0, None)))
KEYS = jax.random.split(jax.random.key(11), 3)


def test_vmap_over_seeds_equals_a_loop_and_same_seed_same_bits():
    batched = PLUS_VMAP(KEYS, HP_PLUS)
    for i, key in enumerate(KEYS):
        single = PLUS_ONE(key, HP_PLUS)
        for name, values in single.metrics.items():
            np.testing.assert_array_equal(batched.metrics[name][i], values, name)
        np.testing.assert_array_equal(batched.state.q[i], single.state.q)
        np.testing.assert_array_equal(
            batched.state.model.last_tried[i], single.state.model.last_tried
        )
    with count_compilations() as compiles:
        again = PLUS_VMAP(KEYS, HP_PLUS)
    assert compiles() == 0
    np.testing.assert_array_equal(again.state.q, batched.state.q)
    # Step mode: rewards per iteration add up to the episodes ended (each
    # pays +1 at the goal), and the step counter survives the resets.
    m = batched.metrics
    np.testing.assert_array_equal(m["reward"], m["episodes"].astype(np.float32))
    np.testing.assert_array_equal(batched.state.t, 300)
    np.testing.assert_array_equal(batched.state.env_state.total, 300)


LEARN = jax.jit(
    jax.vmap(
        dyna.make_train(
            dyna.DynaQConfig(num_episodes=10, planning_steps=50), MAZE, MAZE_PARAMS
        ),
        (0, None),
    )
)


def test_fifty_planning_steps_find_the_14_step_path_within_ten_episodes():
    # The book (figure 8.2): with 50 planning steps the agent is near the
    # 14-step optimum by the third episode (without planning it needs ~25).
    out = LEARN(jax.random.split(jax.random.key(5), 16), HP)
    lengths = np.asarray(out.metrics["length"])  # [seeds, episodes]
    model = MAZE.model(MAZE_PARAMS)
    pi = jax.vmap(control.greedy_policy)(out.state.q)
    paths = jax.vmap(lambda p: dp.greedy_path(model, p, 100))(pi)
    assert (
        int(dp.greedy_path(model, dp.value_iteration(model, 0.95).pi, 100).length) == 14
    )
    # Greedy paths after 10 episodes: every seed reaches the goal, in the
    # optimal 14 steps or the 16 over the top (Q is not yet converged).
    path_lengths = np.asarray(paths.length)
    assert np.asarray(paths.reached_terminal).all()
    assert (path_lengths <= 16).all() and (path_lengths == 14).mean() >= 0.5
    # Episodes 3..10 take about the optimum plus exploration's detours.
    assert np.median(lengths[:, 2:]) <= 18, lengths.mean(0)
    assert lengths[:, 0].mean() > 200  # the first episode is a random walk


# --- the mazes --------------------------------------------------------------


def test_dyna_maze_layout_and_model():
    p = MAZE_PARAMS
    assert (p.height, p.width, p.start, p.goal) == (6, 9, (2, 0), (0, 8))
    assert set(p.walls) == {(1, 2), (2, 2), (3, 2), (4, 5), (0, 7), (1, 7), (2, 7)}
    model = MAZE.model(p)
    R = np.asarray(model.R)
    # +1 only on entering the goal (from (1, 8) up); bumps cost nothing.
    assert R[cell(1, 8), UP] == 1.0 and R.sum() == 1.0
    assert np.asarray(jnp.argmax(model.P, -1))[cell(2, 1), RIGHT] == cell(2, 1)


@pytest.mark.parametrize("name", ["BlockingMaze-v0", "ShortcutMaze-v0"])
def test_changing_maze_models_match_stepping_before_and_after(name):
    env, p = envs.make(name)
    S, A = env.num_states(p), env.num_actions
    s = jnp.arange(S)[:, None].repeat(A, 1)
    a = jnp.arange(A)[None, :].repeat(S, 0)
    lengths = {}
    for total, model in ((0, env.model(p)), (p.change_at, env.model_after_change(p))):

        def one(s, a, total=total):
            state = MazeState(time=jnp.int32(0), pos=s, total=jnp.int32(total))
            _, state1, r, term, _, info = env.step(jax.random.key(0), state, a, p)
            return info["final_observation"], r, term, state1.total

        s1, r, term, total1 = jax.vmap(jax.vmap(one))(s, a)
        live = ~np.asarray(model.terminal)
        P = np.asarray(model.P)
        np.testing.assert_array_equal(np.asarray(jax.nn.one_hot(s1, S))[live], P[live])
        np.testing.assert_allclose(np.asarray(r)[live], np.asarray(model.R)[live])
        np.testing.assert_array_equal(
            np.asarray(term)[live], np.asarray(model.terminal)[np.asarray(s1)][live]
        )
        np.testing.assert_array_equal(total1, total + 1)
        pi = dp.value_iteration(model, 0.95).pi
        lengths[total] = int(dp.greedy_path(model, pi, 100).length)
    # Blocking: the 10-step path on the right closes, a 16-step one opens on
    # the left. Shortcut: the 16-step path stays, a 10-step one opens.
    before, after = lengths[0], lengths[p.change_at]
    assert (before, after) == ((10, 16) if name == "BlockingMaze-v0" else (16, 10))


def test_the_wall_moves_at_the_right_step_and_the_count_survives_resets():
    env, p = envs.make("ShortcutMaze-v0", change_at=7)
    below_gap = cell(4, 8)  # up leads into (3, 8): wall, then open after 7 steps
    for total, expected in ((6, below_gap), (7, cell(3, 8))):
        state = MazeState(
            time=jnp.int32(0), pos=jnp.int32(below_gap), total=jnp.int32(total)
        )
        obs, state, *_ = env.step(jax.random.key(0), state, UP, p)
        assert int(obs) == expected and int(state.total) == total + 1
    # Reaching the goal auto-resets position and episode time, not the count.
    state = MazeState(time=jnp.int32(5), pos=jnp.int32(cell(1, 8)), total=jnp.int32(41))
    obs, state, r, term, trunc, _ = env.step(jax.random.key(0), state, UP, p)
    assert bool(term) and float(r) == 1.0 and int(obs) == cell(*p.start)
    assert (int(state.time), int(state.total)) == (0, 42)
    _, fresh = env.reset(jax.random.key(0), p)
    assert int(fresh.total) == 0


def test_bad_maze_settings_are_refused():
    with pytest.raises(ValueError, match="walls_after: start .* inside a wall"):
        envs.make("BlockingMaze-v0", walls_after=((5, 3),))
    with pytest.raises(ValueError, match="change_at=-1 must be >= 0"):
        envs.make("BlockingMaze-v0", change_at=-1)
    with pytest.raises(ValueError, match="planning_steps=-1 must be an integer"):
        dyna.DynaConfig(planning_steps=-1)
    with pytest.raises(ValueError, match="needs an exploration-bonus weight kappa"):
        dyna.DynaQPlusConfig().check_hparams(dyna.DynaHParams())
