"""Grid worlds: the chapter's gridworld, cliff walking, the windy gridworld
and the Dyna mazes (Sutton & Barto, chapter 8).

One engine serves them all; they differ only in their parameters. The state
index is ``s = row * width + col`` with row 0 at the top; actions are
``0 = up, 1 = right, 2 = down, 3 = left``.

One step from ``s`` with action ``a``:

1. with probability ``slip`` the action is replaced by a uniformly random one;
2. the agent moves one cell; a move off the grid or into a wall leaves it in
   place and adds ``wall_reward`` (a "bump");
3. the wind of the column it started in pushes it ``wind[col]`` cells up,
   stopping at the top edge and before walls (Sutton & Barto, example 6.5);
4. the reward is ``step_reward`` (+ ``wall_reward`` on a bump), plus
   ``goal_reward`` on entering the goal or ``trap_reward`` on entering a trap,
   both terminal; entering a cliff cell gives ``cliff_reward`` instead and sends
   the agent back to the start without ending the episode (example 6.6).

The exact model is built from the same one-step outcome function, averaged
over the slip, so ``P`` and ``R`` match stepping by construction of the rules
(and ``tests/test_envs.py`` checks them against sampled steps). Wall and cliff
cells are never occupied; the model marks them terminal so they carry value 0.
"""

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

from envs.tabular import TabularEnv, TabularModel

Cell = tuple[int, int]

_MOVES = jnp.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=jnp.int32)
ACTION_NAMES = ("up", "right", "down", "left")


@struct.dataclass
class EnvState(environment.EnvState):
    """Agent position (state index) and elapsed steps."""

    pos: jax.Array


@struct.dataclass
class GridParams(environment.EnvParams):
    """Layout (static: it sets shapes) and rewards (traced) of a grid world.

    Layout fields are ``(row, col)`` cells; ``wind`` has one entry per column
    (empty means no wind).
    """

    height: int = struct.field(pytree_node=False, default=10)
    width: int = struct.field(pytree_node=False, default=10)
    start: Cell = struct.field(pytree_node=False, default=(9, 0))
    goal: Cell = struct.field(pytree_node=False, default=(0, 9))
    walls: tuple[Cell, ...] = struct.field(pytree_node=False, default=())
    traps: tuple[Cell, ...] = struct.field(pytree_node=False, default=())
    cliff: tuple[Cell, ...] = struct.field(pytree_node=False, default=())
    wind: tuple[int, ...] = struct.field(pytree_node=False, default=())
    goal_reward: float = 10.0
    trap_reward: float = -10.0
    wall_reward: float = -1.0
    step_reward: float = 0.0
    cliff_reward: float = -100.0
    slip: float = 0.0
    max_steps_in_episode: int = 200


def _cells(text: str, ch: str) -> tuple[Cell, ...]:
    rows = text.strip().split("\n")
    return tuple(
        (r, c)
        for r, line in enumerate(rows)
        for c, x in enumerate(line.split())
        if x == ch
    )


# The chapter's world: 10 x 10 = 100 states, 4 actions; goal +10, traps -10,
# bumping into a wall or the edge -1.
_GRIDWORLD_MAP = """
. . . . . . . . . G
. # # # . . # # . .
. . . # . . . # T .
. T . # . # . . . .
. . . . . # . # # .
# # . # . # . . . .
. . . # . . . # . T
. # . . . # . # . .
. # # # . # . . . .
S . . . . . . # . .
"""


def gridworld_params() -> GridParams:
    m = _GRIDWORLD_MAP
    return GridParams(
        height=10,
        width=10,
        start=_cells(m, "S")[0],
        goal=_cells(m, "G")[0],
        walls=_cells(m, "#"),
        traps=_cells(m, "T"),
    )


def cliff_walking_params() -> GridParams:
    """Sutton & Barto example 6.6: 4 x 12, -1 a step, -100 and back on the cliff."""
    return GridParams(
        height=4,
        width=12,
        start=(3, 0),
        goal=(3, 11),
        cliff=tuple((3, c) for c in range(1, 11)),
        goal_reward=0.0,
        wall_reward=0.0,
        step_reward=-1.0,
        cliff_reward=-100.0,
        max_steps_in_episode=1000,
    )


def windy_gridworld_params() -> GridParams:
    """Sutton & Barto example 6.5: 7 x 10, wind 0 0 0 1 1 1 2 2 1 0, -1 a step."""
    return GridParams(
        height=7,
        width=10,
        start=(3, 0),
        goal=(3, 7),
        wind=(0, 0, 0, 1, 1, 1, 2, 2, 1, 0),
        goal_reward=0.0,
        wall_reward=0.0,
        step_reward=-1.0,
        max_steps_in_episode=1000,
    )


# Sutton & Barto figure 8.2: 6 x 9, start (2, 0), goal (0, 8); the shortest
# path takes 14 steps.
_DYNA_MAZE_MAP = """
. . . . . . . # G
. . # . . . . # .
S . # . . . . # .
. . # . . . . . .
. . . . . # . . .
. . . . . . . . .
"""

# The book's mazes have no episode cap; this one stands in for none (a first
# Dyna maze episode takes hundreds to a few thousand steps).
NO_CAP = 1_000_000


def dyna_maze_params() -> GridParams:
    """Sutton & Barto example 8.1 (figure 8.2): +1 on reaching the goal, else 0.

    Bumping into walls or edges costs nothing; gamma 0.95 in the book.
    """
    m = _DYNA_MAZE_MAP
    return GridParams(
        height=6,
        width=9,
        start=_cells(m, "S")[0],
        goal=_cells(m, "G")[0],
        walls=_cells(m, "#"),
        goal_reward=1.0,
        wall_reward=0.0,
        step_reward=0.0,
        max_steps_in_episode=NO_CAP,
    )


def validate_params(p: GridParams) -> None:
    """Raise ``ValueError`` for a layout or reward that cannot work."""
    if p.height < 1 or p.width < 1 or p.height * p.width < 2:
        raise ValueError(f"grid must have at least 2 cells, got {p.height}x{p.width}")

    def inside(name: str, cell: Any) -> None:
        if (
            not isinstance(cell, tuple | list)
            or len(cell) != 2
            or not (0 <= cell[0] < p.height and 0 <= cell[1] < p.width)
        ):
            raise ValueError(
                f"{name} {cell!r} is not a (row, col) cell inside the "
                f"{p.height}x{p.width} grid (rows 0..{p.height - 1}, "
                f"cols 0..{p.width - 1})"
            )

    for name, cells in (("wall", p.walls), ("trap", p.traps), ("cliff", p.cliff)):
        for cell in cells:
            inside(name, cell)
    inside("start", p.start)
    inside("goal", p.goal)
    blocked = {"wall": set(map(tuple, p.walls)), "cliff": set(map(tuple, p.cliff))}
    for kind, cells in blocked.items():
        for name, cell in (("start", p.start), ("goal", p.goal)):
            if tuple(cell) in cells:
                raise ValueError(f"{name} {tuple(cell)} is inside a {kind} cell")
    if tuple(p.start) == tuple(p.goal):
        raise ValueError(f"start and goal are the same cell {tuple(p.start)}")
    if tuple(p.start) in set(map(tuple, p.traps)):
        raise ValueError(f"start {tuple(p.start)} is a trap")
    if tuple(p.goal) in set(map(tuple, p.traps)):
        raise ValueError(f"goal {tuple(p.goal)} is also a trap")
    if set(map(tuple, p.walls)) & set(map(tuple, p.traps)):
        raise ValueError("a trap is inside a wall")
    if p.wind and len(p.wind) != p.width:
        raise ValueError(
            f"wind needs one entry per column ({p.width}), got {len(p.wind)}"
        )
    if any(w < 0 for w in p.wind):
        raise ValueError(f"wind strengths must be >= 0 (upward), got {p.wind}")
    if not 0.0 <= float(p.slip) <= 1.0:
        raise ValueError(f"slip={p.slip} is out of range: allowed [0, 1]")
    if int(p.max_steps_in_episode) < 1:
        raise ValueError(f"max_steps_in_episode={p.max_steps_in_episode} must be >= 1")


def _mask(p: GridParams, cells: tuple[Cell, ...]) -> jax.Array:
    """``[H * W]`` bool mask of ``cells``: a NumPy constant (the layout is
    static), so a step does not rebuild it with one scatter per cell."""
    m = np.zeros((p.height, p.width), dtype=bool)
    for r, c in cells:
        m[r, c] = True
    return jnp.asarray(m.reshape(-1))


def _outcome(p: GridParams, s: jax.Array, a: jax.Array):
    """Deterministic result of action ``a`` (after any slip) from state ``s``.

    Returns ``(next_state, reward, terminated)``; works elementwise on arrays.
    """
    H, W = p.height, p.width
    walls = _mask(p, p.walls)
    r, c = s // W, s % W
    tr, tc = r + _MOVES[a, 0], c + _MOVES[a, 1]
    off = (tr < 0) | (tr >= H) | (tc < 0) | (tc >= W)
    into_wall = walls[jnp.clip(tr, 0, H - 1) * W + jnp.clip(tc, 0, W - 1)]
    bumped = off | into_wall
    r1 = jnp.where(bumped, r, tr)
    c1 = jnp.where(bumped, c, tc)
    if p.wind:
        # Push up one cell at a time, stopping at the top edge and at walls.
        wind = jnp.asarray(p.wind, dtype=jnp.int32)[c]
        for k in range(1, max(p.wind) + 1):
            cand = r1 - 1
            ok = (k <= wind) & (cand >= 0)
            ok = ok & ~walls[jnp.clip(cand, 0, H - 1) * W + c1]
            r1 = jnp.where(ok, cand, r1)
    s1 = r1 * W + c1
    goal = s1 == p.goal[0] * W + p.goal[1]
    trap = _mask(p, p.traps)[s1]
    cliff = _mask(p, p.cliff)[s1]
    reward = (
        p.step_reward
        + bumped * p.wall_reward
        + goal * p.goal_reward
        + trap * p.trap_reward
    )
    reward = jnp.where(cliff, p.cliff_reward, reward).astype(jnp.float32)
    start = p.start[0] * W + p.start[1]
    s1 = jnp.where(cliff, start, s1).astype(jnp.int32)
    return s1, reward, goal | trap


class GridWorld(TabularEnv):
    """A grid world with walls, a goal, traps, cliffs, wind and slip.

    Registered as ``GridWorld-v0`` (the chapter's 10x10 world),
    ``CliffWalking-v0``, ``WindyGridworld-v0`` and ``DynaMaze-v0``; see the
    module docstring for the dynamics (and :class:`ChangingMaze` for the
    blocking and shortcut mazes).
    """

    def __init__(self, preset: str = "GridWorld-v0"):
        self._preset = preset

    @property
    def name(self) -> str:
        return self._preset

    @property
    def default_params(self) -> GridParams:
        return {
            "GridWorld-v0": gridworld_params,
            "CliffWalking-v0": cliff_walking_params,
            "WindyGridworld-v0": windy_gridworld_params,
            "DynaMaze-v0": dyna_maze_params,
        }[self._preset]()

    @property
    def num_actions(self) -> int:
        return 4

    def num_states(self, params: GridParams) -> int:
        return params.height * params.width

    def reset_env(self, key: jax.Array, params: GridParams):
        del key
        pos = jnp.int32(params.start[0] * params.width + params.start[1])
        return pos, EnvState(time=jnp.int32(0), pos=pos)

    def step_env(self, key: jax.Array, state: EnvState, action, params: GridParams):
        action = jnp.asarray(action, jnp.int32)

        def slip(key):
            u = jax.random.uniform(key, (2,))
            random_action = jnp.minimum((u[1] * 4).astype(jnp.int32), 3)
            return jnp.where(u[0] < params.slip, random_action, action)

        # No draw on a grid without slip (a static or unbatched slip: a real
        # branch; a batched one computes both, as a select).
        a = jax.lax.cond(params.slip > 0, slip, lambda key: action, key)
        s1, reward, terminated = _outcome(params, state.pos, a)
        state = EnvState(time=state.time + 1, pos=s1)
        return s1, state, reward, terminated, {}

    @partial(jax.jit, static_argnums=0)
    def model(self, params: GridParams) -> TabularModel:
        S, A = self.num_states(params), self.num_actions
        s = jnp.arange(S)[:, None].repeat(A, 1)
        a = jnp.arange(A)[None, :].repeat(S, 0)
        s1, r, _ = _outcome(params, s, a)  # [S, A] each, the intended move
        T = jax.nn.one_hot(s1, S)  # [S, A, S]
        # Slip: the executed action is uniform with probability `slip`.
        P = (1 - params.slip) * T + params.slip * T.mean(axis=1, keepdims=True)
        R = (1 - params.slip) * r + params.slip * r.mean(axis=1, keepdims=True)
        goal = jnp.zeros(S, bool).at[params.goal[0] * params.width + params.goal[1]]
        terminal = (
            goal.set(True)
            | _mask(params, params.traps)
            | _mask(params, params.walls)
            | _mask(params, params.cliff)
        )
        eye = jnp.eye(S)[:, None, :].repeat(A, 1)
        P = jnp.where(terminal[:, None, None], eye, P)
        R = jnp.where(terminal[:, None], 0.0, R)
        start = jax.nn.one_hot(params.start[0] * params.width + params.start[1], S)
        return TabularModel(P=P, R=R, terminal=terminal, start=start)


# Changing mazes (Sutton & Barto, section 8.3): the walls move once, after a
# number of environment steps counted across episodes.


@struct.dataclass
class MazeState(EnvState):
    """A grid state with ``total``, the env steps taken since ``reset``.

    ``total`` survives the auto-reset at the end of an episode (see
    :meth:`ChangingMaze.step`); ``time`` counts the steps of this episode.
    """

    total: jax.Array


@struct.dataclass
class MazeParams(GridParams):
    """A grid whose walls become ``walls_after`` once ``change_at`` env steps
    have been taken (the step numbered ``change_at + 1`` sees the new walls).

    ``walls_after`` is static (it sets the layout); ``change_at`` is traced.
    """

    walls_after: tuple[Cell, ...] = struct.field(pytree_node=False, default=())
    change_at: int = 1000


_BLOCKING_BEFORE = tuple((3, c) for c in range(0, 8))
_BLOCKING_AFTER = tuple((3, c) for c in range(1, 9))


def blocking_maze_params() -> MazeParams:
    """Sutton & Barto example 8.2 (figure 8.4): 6 x 9, start (5, 3), goal
    (0, 8). The wall fills row 3 but for its right end (a 10-step path); after
    1,000 steps it moves right, opening the left end (a 16-step path)."""
    return MazeParams(
        height=6,
        width=9,
        start=(5, 3),
        goal=(0, 8),
        walls=_BLOCKING_BEFORE,
        walls_after=_BLOCKING_AFTER,
        change_at=1000,
        goal_reward=1.0,
        wall_reward=0.0,
        step_reward=0.0,
        max_steps_in_episode=NO_CAP,
    )


def shortcut_maze_params() -> MazeParams:
    """Sutton & Barto example 8.3 (figure 8.5): the wall fills row 3 but for
    its left end (a 16-step path); after 3,000 steps its right end opens too
    (a 10-step shortcut)."""
    return blocking_maze_params().replace(
        walls=_BLOCKING_AFTER, walls_after=_BLOCKING_AFTER[:-1], change_at=3000
    )


def validate_maze_params(p: MazeParams) -> None:
    """:func:`validate_params` for both layouts, and ``change_at >= 0``."""
    validate_params(p)
    try:
        validate_params(p.replace(walls=p.walls_after))
    except ValueError as e:
        raise ValueError(f"walls_after: {e}") from None
    if int(p.change_at) < 0:
        raise ValueError(f"change_at={p.change_at} must be >= 0 (env steps)")


class ChangingMaze(GridWorld):
    """A grid world whose walls change once: ``BlockingMaze-v0`` and
    ``ShortcutMaze-v0`` (Sutton & Barto, examples 8.2 and 8.3).

    A step from :class:`MazeState` ``state`` moves as :class:`GridWorld` does
    with the walls ``params.walls`` while ``state.total < params.change_at``
    and ``params.walls_after`` from then on. An agent standing where a wall
    appears walks out of it as from any cell.

    :meth:`model` is the exact model of the initial layout;
    :meth:`model_after_change` that of the later one.
    """

    def __init__(self, preset: str = "BlockingMaze-v0"):
        self._preset = preset

    @property
    def default_params(self) -> MazeParams:
        return {
            "BlockingMaze-v0": blocking_maze_params,
            "ShortcutMaze-v0": shortcut_maze_params,
        }[self._preset]()

    def reset_env(self, key: jax.Array, params: MazeParams):
        obs, state = super().reset_env(key, params)
        return obs, MazeState(time=state.time, pos=state.pos, total=jnp.int32(0))

    def step_env(self, key: jax.Array, state: MazeState, action, params: MazeParams):
        after = params.replace(walls=params.walls_after)
        s_old, _, r_old, term_old, _ = super().step_env(key, state, action, params)
        s_new, _, r_new, term_new, _ = super().step_env(key, state, action, after)
        changed = state.total >= params.change_at
        s1 = jnp.where(changed, s_new, s_old)
        reward = jnp.where(changed, r_new, r_old)
        terminated = jnp.where(changed, term_new, term_old)
        state = MazeState(time=state.time + 1, pos=s1, total=state.total + 1)
        return s1, state, reward, terminated, {}

    def step(self, key: jax.Array, state: MazeState, action, params=None):
        """:meth:`TabularEnv.step`, with ``total`` kept across the auto-reset."""
        obs, new, reward, terminated, truncated, info = super().step(
            key, state, action, params
        )
        new = new.replace(total=state.total + 1)
        return obs, new, reward, terminated, truncated, info

    def model_after_change(self, params: MazeParams) -> TabularModel:
        """The exact model of the layout after the change."""
        return self.model(params.replace(walls=params.walls_after))
