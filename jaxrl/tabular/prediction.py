"""Tabular prediction: Monte Carlo, TD(0), their batch versions, n-step TD and
TD(lambda).

Evaluates a fixed policy ``pi[S, A]`` (the uniform random policy unless one
is given) on a tabular environment (Sutton & Barto 2018, sections 5.1,
6.1-6.3, 7.1, 12.1-12.5):

* **Monte Carlo** (section 5.1; constant-alpha MC, eq. 6.1): after an
  episode, walk it backwards accumulating ``G_t = r_t + gamma G_{t+1}`` and
  move ``V(S_t)`` toward ``G_t`` at the first visit of ``S_t`` in the episode
  (first-visit) or at every visit (every-visit), with step ``alpha`` or
  ``1 / N(S_t)`` (sample averages).
* **TD(0)** (section 6.1, eq. 6.2): online, after every step,
  ``V(S_t) <- V(S_t) + alpha [R_{t+1} + gamma V(S_{t+1}) - V(S_t)]``.
* **batch TD(0) and batch MC** (section 6.3, fig. 6.2): after each episode,
  present all transitions seen so far again and again, summing the
  increments ``alpha * delta`` of a whole sweep and applying them once per
  sweep, until the largest summed increment is at most ``batch_tol``.
* **n-step TD** (section 7.1), **TD(lambda)** with accumulating or replacing
  traces (12.2), **true online TD(lambda)** (12.5) and the **offline
  lambda-return algorithm** (12.1): the per-step updates of
  :mod:`~jaxrl.tabular.multistep`, with ``n_step`` and ``lambda_`` traced
  hyperparameters (:class:`NStepHParams`, :class:`LambdaHParams`).

Batch data is kept as sufficient statistics in arrays allocated once (no
buffer grows): for a tabular ``V`` the sum of one sweep's TD increments at
state ``s`` over every stored transition ``i`` with ``s_i = s`` is

``sum_i alpha (r_i + gamma d_i V(s'_i) - V(s))``
``= alpha (Rsum(s) + gamma sum_s' C(s, s') V(s') - N(s) V(s))``

with visit counts ``N[S]``, reward sums ``Rsum[S]`` and continuation counts
``C[S, S]`` (``d_i = 1 - terminated_i``), and for MC
``alpha (Gsum(s) - N(s) V(s))`` with return sums ``Gsum[S]``. A sweep is then
``O(S^2)`` however many episodes were seen, instead of ``O(episodes x T)``
over a ``[num_episodes, max_steps]`` buffer; the test suite checks it
against a naive loop over stored transitions. As in the book, ``alpha`` must
be small: the sweeps are stable only while ``alpha`` is below about
``1 / max_s N(s)`` (fig. 6.2's 0.001 allows ~1000 visits of a state); beyond
that they diverge and ``V`` becomes inf/nan.

Terminated and truncated steps differ: a terminated step's target is ``r``
(``discount_t = gamma (1 - terminated)``), a truncated one bootstraps from the
state the step reached (``info["final_observation"]``); MC returns of a
truncated episode start from ``V`` of that state.

One Trainer iteration is one episode. Metrics per episode: ``rms_error``
(root mean square error of ``V`` after the episode against the exact
``V_pi`` from :func:`~jaxrl.tabular.dp.policy_evaluation`, averaged over the
non-terminal states, as in fig. 6.2 and example 6.2), ``return`` (the
undiscounted sum of rewards), ``length``; batch methods add ``sweeps``.
"""

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxrl.ops.value import td_learning
from jaxrl.tabular import dp, multistep, policies
from jaxrl.types import Trainer, hparam

# Masked steps per while-loop step of the episode loop of the buffer methods.
_BLOCK = 32
METHODS = (
    "td0",
    "mc",
    "batch_td",
    "batch_mc",
    "nstep_td",
    "td_lambda",
    "true_online",
    "offline_lambda",
)
STEP_SIZES = ("constant", "sample_average")


@dataclasses.dataclass(frozen=True)
class PredictionConfig:
    """Static settings of a prediction run.

    Attributes:
        num_episodes: episodes in a run (one Trainer iteration each).
        method: ``"td0"``, ``"mc"``, ``"batch_td"`` or ``"batch_mc"``.
        first_visit: MC methods: update at the first visit of a state in an
            episode only (else at every visit).
        step_size: ``"constant"`` (``alpha``) or ``"sample_average"``
            (``1 / N(s)``); batch methods need ``"constant"``.
        batch_tol: batch methods: stop sweeping once the largest increment
            of a sweep is at most this.
        batch_max_sweeps: batch methods: most sweeps after one episode.
        max_n: n-step TD: the window's size, the largest ``n`` a run (or a
            sweep over ``n``) may use; the per-step cost grows with it.
        trace: TD(lambda): ``"accumulating"`` or ``"replacing"`` traces.
    """

    num_episodes: int = 100
    method: str = "td0"
    first_visit: bool = True
    step_size: str = "constant"
    batch_tol: float = 1e-6
    batch_max_sweeps: int = 100_000
    max_n: int = 32
    trace: str = "accumulating"

    # Settings that only some methods read (jaxrl.config.settable).
    FIELDS_FOR: ClassVar[dict[str, tuple[str, ...]]] = {
        "first_visit": ("mc", "batch_mc"),
        "step_size": ("td0", "mc"),
        "batch_tol": ("batch_td", "batch_mc"),
        "batch_max_sweeps": ("batch_td", "batch_mc"),
        "max_n": ("nstep_td",),
        "trace": ("td_lambda",),
    }

    def __post_init__(self):
        from jaxrl.config import check_fields_for

        for name in ("num_episodes", "batch_max_sweeps", "max_n"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is unknown; allowed: {METHODS}")
        if self.step_size not in STEP_SIZES:
            raise ValueError(
                f"step_size={self.step_size!r} is unknown; allowed: {STEP_SIZES}"
            )
        if self.method.startswith("batch") and self.step_size != "constant":
            raise ValueError(
                f"method={self.method!r} needs step_size='constant' (batch updates "
                "sum alpha-weighted increments over all data)"
            )
        if not self.batch_tol > 0:
            raise ValueError(f"batch_tol={self.batch_tol!r} must be > 0")
        if self.trace not in multistep.TRACES:
            raise ValueError(
                f"trace={self.trace!r} is unknown; allowed: {multistep.TRACES}"
            )
        check_fields_for(self)

    def check_hparams(self, hparams: Any) -> None:
        """Checks that need both: n-step's ``n_step`` is a whole number that
        fits the window (``1 <= n_step <= max_n``). Called at the edge."""
        if self.method == "nstep_td":
            multistep.check_n_step(getattr(hparams, "n_step", None), self.max_n)


@dataclasses.dataclass(frozen=True)
class MCFirstVisitConfig(PredictionConfig):
    """First-visit Monte Carlo prediction (section 5.1)."""

    method: str = "mc"


@dataclasses.dataclass(frozen=True)
class MCEveryVisitConfig(PredictionConfig):
    """Every-visit (constant-alpha) Monte Carlo prediction (eq. 6.1)."""

    method: str = "mc"
    first_visit: bool = False


@dataclasses.dataclass(frozen=True)
class BatchTDConfig(PredictionConfig):
    """Batch TD(0) (section 6.3)."""

    method: str = "batch_td"


@dataclasses.dataclass(frozen=True)
class BatchMCConfig(PredictionConfig):
    """Batch constant-alpha (every-visit) Monte Carlo (section 6.3)."""

    method: str = "batch_mc"
    first_visit: bool = False


@dataclasses.dataclass(frozen=True)
class NStepTDConfig(PredictionConfig):
    """n-step TD prediction (section 7.1)."""

    method: str = "nstep_td"


@dataclasses.dataclass(frozen=True)
class TDLambdaConfig(PredictionConfig):
    """TD(lambda) with accumulating or replacing traces (section 12.2)."""

    method: str = "td_lambda"


@dataclasses.dataclass(frozen=True)
class TrueOnlineConfig(PredictionConfig):
    """True online TD(lambda) (section 12.5)."""

    method: str = "true_online"


@dataclasses.dataclass(frozen=True)
class OfflineLambdaConfig(PredictionConfig):
    """The offline lambda-return algorithm (section 12.1)."""

    method: str = "offline_lambda"


@struct.dataclass
class PredictionHParams:
    """Traced hyperparameters.

    Attributes:
        alpha: constant step size, in ``(0, 1]``.
        gamma: discount, in ``[0, 1]`` (1 for the textbook random walk).
        initial_value: ``V_0(s)`` of non-terminal states (0.5 for the random
            walk of example 6.2); terminal states are 0.
    """

    alpha: float = hparam(0.1, "(0, 1]")
    gamma: float = hparam(1.0, "[0, 1]")
    initial_value: float = hparam(0.5, "(-inf, inf)")


@struct.dataclass
class NStepHParams(PredictionHParams):
    """n-step TD: ``n_step``, the book's ``n``, a whole number in ``[1,
    max_n]`` (traced: a sweep over it is one compiled call). Not ``n``: that
    is the random walk's number of states."""

    n_step: int = hparam(4, "[1, inf)")


@struct.dataclass
class LambdaHParams(PredictionHParams):
    """Traces and lambda-returns: ``lambda_`` in ``[0, 1]``."""

    lambda_: float = hparam(0.9, "[0, 1]")


@struct.dataclass
class BatchHParams(PredictionHParams):
    """Batch defaults of fig. 6.2: ``alpha = 0.001``."""

    alpha: float = hparam(0.001, "(0, 1]")


class Episode(NamedTuple):
    """One episode in fixed-size buffers (entries past ``length`` are padding).

    Attributes:
        obs: states ``S_t``, int32 ``[T]``.
        action: actions ``A_t``, int32 ``[T]``.
        reward: rewards ``R_{t+1}``, float32 ``[T]``.
        next_obs: states reached ``S_{t+1}`` (before any auto-reset), ``[T]``.
        terminated: ``S_{t+1}`` is terminal, bool ``[T]``.
        length: number of steps, int32 ``[]``.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    length: jax.Array


class BatchStats(NamedTuple):
    """Sufficient statistics of all data seen, for batch updating.

    Attributes:
        n: visits ``N(s)`` (every-visit, or first visits for first-visit MC),
            float32 ``[S]``.
        target_sum: batch TD: reward sums ``Rsum(s)``; batch MC: return sums
            ``Gsum(s)``; ``[S]``.
        cont: batch TD: continuation counts ``C(s, s')`` of non-terminating
            transitions, ``[S, S]``; batch MC: ``None`` (no leaf, so a
            checkpoint holds no zero-size array).
    """

    n: jax.Array
    target_sum: jax.Array
    cont: jax.Array | None = None


@struct.dataclass
class PredictionState:
    """State of a prediction run.

    Attributes:
        v: value estimates ``V(s)``, ``[S]``.
        n: visit counts behind sample-average step sizes, float32 ``[S]``.
        stats: batch statistics (:class:`BatchStats`); ``None`` for online
            methods, which keep none.
        v_true: exact ``V_pi`` for this ``gamma``, ``[S]``.
        obs: current observation (the start of the next episode).
        env_state: the environment's state.
        key: PRNG key for the next episode.
        hparams: the run's :class:`PredictionHParams`.
    """

    v: jax.Array
    n: jax.Array
    stats: BatchStats | None
    v_true: jax.Array
    obs: jax.Array
    env_state: Any
    key: jax.Array
    hparams: PredictionHParams


def td0_update(
    v: jax.Array,
    n: jax.Array,
    obs: jax.Array,
    reward: jax.Array,
    next_obs: jax.Array,
    discount: jax.Array,
    alpha: jax.Array,
    sample_average: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """One TD(0) update (Sutton & Barto 2018, eq. 6.2).

    ``V(s) <- V(s) + step * (r + discount * V(s') - V(s))`` with
    ``step = alpha`` or ``1 / N(s)`` after counting this visit.

    Args:
        v: values ``[S]``; n: visit counts ``[S]``; obs: ``s``; reward: ``r``;
        next_obs: ``s'``; discount: ``gamma * (1 - terminated)``;
        alpha: step size; sample_average: static flag.

    Returns:
        ``(v, n)`` updated.
    """
    n = n.at[obs].add(1.0)
    step = 1.0 / n[obs] if sample_average else alpha
    delta = td_learning(v[obs], reward, discount, v[next_obs])
    return v.at[obs].set(v[obs] + step * delta), n


def first_visit_mask(episode: Episode, num_states: int) -> jax.Array:
    """``True`` at the steps ``t`` where ``S_t`` is visited for the first time.

    Shape ``[T]``; ``False`` on padding.
    """
    steps = jnp.arange(episode.obs.shape[0])
    valid = steps < episode.length
    first = jnp.full((num_states,), episode.obs.shape[0], jnp.int32)
    first = first.at[episode.obs].min(jnp.where(valid, steps, episode.obs.shape[0]))
    return valid & (first[episode.obs] == steps)


def episode_returns(episode: Episode, v: jax.Array, gamma: jax.Array) -> jax.Array:
    """Returns ``G_t = r_t + gamma (1 - terminated_t) G_{t+1}``, ``[T]``.

    The return after the last step is ``V(S_T)`` (bootstrap on truncation;
    multiplied by 0 if the episode terminated). Computed with a reverse
    ``lax.scan`` over the whole buffer; padding entries are 0.
    """
    steps = jnp.arange(episode.obs.shape[0])
    valid = steps < episode.length
    last = jnp.maximum(episode.length - 1, 0)
    bootstrap = v[episode.next_obs[last]]
    discount = gamma * (1.0 - episode.terminated.astype(jnp.float32))

    def body(g_next, x):
        r, d, t, ok = x
        g_next = jnp.where(t == last, bootstrap, g_next)
        g = jnp.where(ok, r + d * g_next, 0.0)
        return g, g

    _, g = jax.lax.scan(
        body, jnp.float32(0.0), (episode.reward, discount, steps, valid), reverse=True
    )
    return g


def mc_update(
    v: jax.Array,
    n: jax.Array,
    episode: Episode,
    gamma: jax.Array,
    alpha: jax.Array,
    first_visit: bool,
    sample_average: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Monte Carlo update after an episode (section 5.1; eq. 6.1).

    For ``t = T-1, ..., 0`` (visited steps only, first visits if
    ``first_visit``): ``V(S_t) <- V(S_t) + step (G_t - V(S_t))`` with
    ``step = alpha`` or ``1 / N(S_t)``, applied in that order.

    Returns:
        ``(v, n)`` updated.
    """
    returns = episode_returns(episode, v, gamma)
    if first_visit:
        visit = first_visit_mask(episode, v.shape[0])
    else:
        visit = jnp.arange(episode.obs.shape[0]) < episode.length

    def body(i, carry):
        v, n = carry
        t = episode.length - 1 - i
        s, w = episode.obs[t], visit[t].astype(jnp.float32)
        n = n.at[s].add(w)
        step = w / jnp.maximum(n[s], 1.0) if sample_average else w * alpha
        return v.at[s].set(v[s] + step * (returns[t] - v[s])), n

    return jax.lax.fori_loop(0, episode.length, body, (v, n))


def add_transition(
    stats: BatchStats,
    s: jax.Array,
    r: jax.Array,
    s1: jax.Array,
    terminated: jax.Array,
) -> BatchStats:
    """Fold one transition ``(s, r, s', terminated)`` into batch-TD statistics."""
    d = 1.0 - jnp.asarray(terminated, jnp.float32)
    return BatchStats(
        stats.n.at[s].add(1.0),
        stats.target_sum.at[s].add(r),
        stats.cont.at[s, s1].add(d),
    )


def add_returns(
    stats: BatchStats, obs: jax.Array, returns: jax.Array, weights: jax.Array
) -> BatchStats:
    """Fold an episode's returns into batch-MC statistics.

    Args:
        stats: batch-MC statistics (``cont`` unused).
        obs: states ``[T]``; returns: ``G_t`` ``[T]``; weights: 1 where the
            step counts (valid, and a first visit for first-visit MC), ``[T]``.
    """
    return BatchStats(
        stats.n.at[obs].add(weights),
        stats.target_sum.at[obs].add(weights * returns),
        stats.cont,
    )


def batch_increment(
    stats: BatchStats, v: jax.Array, alpha: jax.Array, gamma: jax.Array
) -> jax.Array:
    """Summed increments of one sweep over all stored data, ``[S]``.

    Batch TD(0): ``alpha (Rsum + gamma C V - N V)``; batch MC (no ``cont``):
    ``alpha (Gsum - N V)``. See the module docstring.
    """
    target = stats.target_sum
    if stats.cont is not None:
        # Elementwise product and row sum (not a matvec) so that a vmapped
        # run reduces in the same order as an unbatched one.
        target = target + gamma * jnp.sum(stats.cont * v[None, :], axis=1)
    return alpha * (target - stats.n * v)


def batch_solve(
    stats: BatchStats,
    v: jax.Array,
    alpha: jax.Array,
    gamma: jax.Array,
    tol: float,
    max_sweeps: int,
) -> tuple[jax.Array, jax.Array]:
    """Sweep ``V <- V + batch_increment(V)`` until ``max |increment| <= tol``.

    Returns:
        ``(v, sweeps)``: the converged values and the number of sweeps.
    """

    def cond(carry):
        _, inc, i = carry
        return (jnp.max(jnp.abs(inc)) > tol) & (i < max_sweeps)

    def body(carry):
        v, inc, i = carry
        v = v + inc
        return v, batch_increment(stats, v, alpha, gamma), i + 1

    inc0 = batch_increment(stats, v, alpha, gamma)
    v, _, sweeps = jax.lax.while_loop(cond, body, (v, inc0, jnp.int32(0)))
    return v, sweeps


def _check_policy(policy: Any, num_states: int, num_actions: int) -> jax.Array:
    pi = np.asarray(policy, dtype=np.float32)
    if pi.shape != (num_states, num_actions):
        raise ValueError(
            f"policy has shape {pi.shape}; expected [num_states, num_actions] = "
            f"{(num_states, num_actions)}"
        )
    if np.any(pi < 0) or not np.allclose(pi.sum(1), 1.0, atol=1e-5):
        raise ValueError("policy rows must be probabilities (>= 0, summing to 1)")
    return jnp.asarray(pi)


def make_train(
    config: PredictionConfig, env: Any, env_params: Any, policy: Any = None
) -> Trainer:
    """Build a prediction run of ``policy`` on a tabular ``env``.

    Args:
        config: :class:`PredictionConfig` (or a registered subclass).
        env: a tabular environment (``envs.TabularEnv``: integer
            observations and an exact ``model``).
        env_params: its parameters; ``max_steps_in_episode`` sets the size of
            the MC episode buffer.
        policy: ``pi[s, a]``, ``[S, A]``; default uniform random. With
            ``gamma = 1`` it must terminate from every state, or its exact
            values (and so ``rms_error``) are inf/nan.

    Returns:
        A :class:`~jaxrl.types.Trainer` whose metrics are ``rms_error``,
        ``return``, ``length`` (and ``sweeps`` for batch methods), each
        ``[num_episodes]``.
    """
    if not hasattr(env, "model") or not hasattr(env, "num_states"):
        raise ValueError(
            f"{getattr(env, 'name', env)!r} is not a tabular environment (it needs "
            "num_states and an exact model); use e.g. envs.make('RandomWalk-v0')"
        )
    num_states, num_actions = env.num_states(env_params), env.num_actions
    pi = (
        policies.uniform_policy(num_states, num_actions)
        if policy is None
        else _check_policy(policy, num_states, num_actions)
    )
    model = jax.jit(env.model)(env_params)  # one compiled call, not eager ops
    live = 1.0 - model.terminal.astype(jnp.float32)
    max_steps = int(env_params.max_steps_in_episode)
    method = config.method
    sample_average = config.step_size == "sample_average"

    def init(key: jax.Array, hparams: PredictionHParams) -> PredictionState:
        key, reset_key = jax.random.split(key)
        obs, env_state = env.reset(reset_key, env_params)
        if method == "batch_td":
            stats = BatchStats(
                jnp.zeros(num_states),
                jnp.zeros(num_states),
                jnp.zeros((num_states, num_states)),
            )
        elif method == "batch_mc":
            stats = BatchStats(jnp.zeros(num_states), jnp.zeros(num_states))
        else:
            stats = None
        return PredictionState(
            v=live * jnp.asarray(hparams.initial_value, jnp.float32),
            n=jnp.zeros(num_states, jnp.float32),
            stats=stats,
            v_true=dp.policy_evaluation(model, pi, hparams.gamma),
            obs=obs,
            env_state=env_state,
            key=key,
            hparams=hparams,
        )

    def on_step(acc, t, s, a, r, s1, terminated, hp):
        """Fold one transition into the per-episode accumulator."""
        live = 1.0 - terminated.astype(jnp.float32)
        discount = hp.gamma * live
        if method == "td0":
            v, n = acc
            return td0_update(v, n, s, r, s1, discount, hp.alpha, sample_average)
        if method == "batch_td":
            return add_transition(acc, s, r, s1, terminated)
        if method == "nstep_td":
            v, w, _, _ = acc
            w = multistep.window_push(w, s, a, r)
            v = multistep.nstep_td_step(
                v, w, hp.n_step, hp.gamma, hp.alpha, live * v[s1]
            )
            return v, w, s1, live
        if method == "td_lambda":
            v, z = acc
            return multistep.td_lambda_step(
                v, z, s, r, s1, discount, hp.gamma, hp.lambda_, hp.alpha, config.trace
            )
        if method == "true_online":
            v, c = acc
            return multistep.true_online_step(
                v, c, s, r, s1, discount, hp.gamma, hp.lambda_, hp.alpha
            )
        ep = acc  # MC methods, offline lambda: record the step in the buffer
        # mode="drop": a masked step (one after the episode ended, see the
        # scan in update) writes past the episode's length, or nowhere once
        # the buffer is full; nothing reads past the length.
        return ep._replace(
            obs=ep.obs.at[t].set(s, mode="drop"),
            action=ep.action.at[t].set(a, mode="drop"),
            reward=ep.reward.at[t].set(r, mode="drop"),
            next_obs=ep.next_obs.at[t].set(s1, mode="drop"),
            terminated=ep.terminated.at[t].set(terminated, mode="drop"),
            length=t + 1,
        )

    def update(state: PredictionState) -> tuple[PredictionState, dict[str, jax.Array]]:
        hp = state.hparams
        key, episode_key = jax.random.split(state.key)
        if method == "td0":
            acc0 = (state.v, state.n)
        elif method == "batch_td":
            acc0 = state.stats
        elif method == "nstep_td":
            window = multistep.window_init(config.max_n)
            acc0 = (state.v, window, state.obs, jnp.float32(1.0))
        elif method == "td_lambda":
            acc0 = (state.v, jnp.zeros(num_states, jnp.float32))
        elif method == "true_online":
            zeros = jnp.zeros(num_states, jnp.float32)
            acc0 = (state.v, multistep.TrueOnlineState(z=zeros, v_old=jnp.float32(0)))
        else:
            acc0 = Episode(
                obs=jnp.zeros(max_steps, jnp.int32),
                action=jnp.zeros(max_steps, jnp.int32),
                reward=jnp.zeros(max_steps, jnp.float32),
                next_obs=jnp.zeros(max_steps, jnp.int32),
                terminated=jnp.zeros(max_steps, bool),
                length=jnp.int32(0),
            )

        def cond(carry):
            *_, t, done, _, _ = carry
            return (~done) & (t < max_steps)

        def body(carry):
            key, obs, env_state, t, _, ret, acc = carry
            key, act_key, step_key = jax.random.split(key, 3)
            action = policies.sample(act_key, pi[obs])
            obs1, env_state, reward, terminated, truncated, info = env.step(
                step_key, env_state, action, env_params
            )
            reward = reward.astype(jnp.float32)
            s1 = info["final_observation"]
            acc = on_step(acc, t, obs, action, reward, s1, terminated, hp)
            done = terminated | truncated
            return key, obs1, env_state, t + 1, done, ret + reward, acc

        carry0 = (
            episode_key,
            state.obs,
            state.env_state,
            jnp.int32(0),
            jnp.bool_(False),
            jnp.float32(0.0),
            acc0,
        )
        if method in ("mc", "batch_mc", "offline_lambda"):
            # The episode lives in [max_steps] buffers, and under vmap a while
            # loop selects (copies) its whole carry at every step, buffers
            # included. Here each while step is a scan of BLOCK masked steps,
            # so the copy happens once per BLOCK steps; a step after the
            # episode ended changes nothing, so each seed computes what a
            # step-by-step loop computes (at most BLOCK - 1 idle steps).
            def masked(carry, _=None):
                new = body(carry)
                active = cond(carry)
                keep = [
                    jax.tree.map(lambda n, o: jnp.where(active, n, o), n, o)
                    for n, o in zip(new[:-1], carry[:-1], strict=True)
                ]
                acc = new[-1]._replace(
                    length=jnp.where(active, new[-1].length, carry[-1].length)
                )
                return (*keep, acc), None

            def block(carry):
                return jax.lax.scan(masked, carry, None, length=block_len)[0]

            block_len = min(_BLOCK, max_steps)
            carry = jax.lax.while_loop(cond, block, carry0)
        else:
            carry = jax.lax.while_loop(cond, body, carry0)
        _, obs, env_state, length, _, ret, acc = carry

        v, n, stats = state.v, state.n, state.stats
        metrics = {}
        if method == "td0":
            v, n = acc
        elif method == "mc":
            v, n = mc_update(
                v, n, acc, hp.gamma, hp.alpha, config.first_visit, sample_average
            )
        elif method == "batch_td":
            stats = acc
        elif method == "nstep_td":
            v, window, last_obs, live_end = acc
            v = multistep.nstep_flush(
                v,
                window,
                hp.n_step,
                hp.gamma,
                hp.alpha,
                lambda table: live_end * table[last_obs],
            )
        elif method in ("td_lambda", "true_online"):
            v = acc[0]
        elif method == "offline_lambda":
            v = multistep.offline_lambda_update(
                v,
                acc.obs,
                acc.reward,
                acc.next_obs,
                acc.terminated,
                acc.length,
                hp.gamma,
                hp.lambda_,
                hp.alpha,
            )
        else:  # batch_mc
            g = episode_returns(acc, v, hp.gamma)
            if config.first_visit:
                w = first_visit_mask(acc, num_states).astype(jnp.float32)
            else:
                w = (jnp.arange(max_steps) < acc.length).astype(jnp.float32)
            stats = add_returns(stats, acc.obs, g, w)
        if method.startswith("batch"):
            v, sweeps = batch_solve(
                stats, v, hp.alpha, hp.gamma, config.batch_tol, config.batch_max_sweeps
            )
            metrics["sweeps"] = sweeps
        err = jnp.sum(live * (v - state.v_true) ** 2) / jnp.sum(live)
        metrics = {
            "rms_error": jnp.sqrt(err),
            "return": ret,
            "length": length,
        } | metrics
        state = state.replace(
            v=v, n=n, stats=stats, obs=obs, env_state=env_state, key=key
        )
        return state, metrics

    return Trainer(init=init, update=update, num_iterations=config.num_episodes)
