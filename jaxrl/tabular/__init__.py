"""The tabular chapter: bandits, dynamic programming, prediction and TD control.

Sutton & Barto (2018), chapters 2, 4-8 and 12. Modules:

* :mod:`~jaxrl.tabular.dp`: exact policy evaluation, value and policy
  iteration on an ``envs.TabularModel``.
* :mod:`~jaxrl.tabular.policies`: epsilon-greedy, greedy and soft-max action
  selection with random tie-breaking.
* :mod:`~jaxrl.tabular.bandits`: epsilon-greedy, optimistic, UCB and gradient
  bandit agents on ``Bandit-v0``.
* :mod:`~jaxrl.tabular.prediction`: first/every-visit MC, TD(0), batch TD(0)
  and batch MC, n-step TD, TD(lambda), true online TD(lambda) and the offline
  lambda-return evaluation of a fixed policy.
* :mod:`~jaxrl.tabular.multistep`: the n-step window and eligibility traces
  as pure per-step updates (chapters 7 and 12).
* :mod:`~jaxrl.tabular.control`: Q-learning, SARSA and Expected SARSA, n-step
  SARSA and Expected SARSA, SARSA(lambda).
* :mod:`~jaxrl.tabular.dyna`: Dyna-Q and Dyna-Q+, planning on a learned
  deterministic model (chapter 8).

Each runner module has ``make_train(config, env, env_params) -> Trainer``
(prediction also takes ``policy``); importing this package registers them in
:mod:`jaxrl.registry` under the names listed by ``jaxrl.registry.names()``.
"""

from jaxrl.registry import AlgoSpec, register
from jaxrl.tabular import bandits, control, dp, dyna, policies, prediction
from jaxrl.tabular.bandits import (
    BanditConfig,
    BanditHParams,
    BanditState,
    gradient_bandit_update,
    ucb_scores,
)
from jaxrl.tabular.control import (
    ControlConfig,
    ControlHParams,
    ControlState,
    td_error,
)
from jaxrl.tabular.dp import (
    DPResult,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    value_iteration,
)
from jaxrl.tabular.policies import (
    epsilon_greedy,
    epsilon_greedy_probs,
    greedy_policy,
    greedy_probs,
    one_hot_policy,
    random_argmax,
    sample,
    softmax,
    softmax_probs,
    uniform_policy,
)
from jaxrl.tabular.prediction import (
    BatchStats,
    Episode,
    PredictionConfig,
    PredictionHParams,
    PredictionState,
    add_returns,
    add_transition,
    batch_increment,
    batch_solve,
    episode_returns,
    first_visit_mask,
    mc_update,
    td0_update,
)

__all__ = [
    "BanditConfig",
    "BanditHParams",
    "BanditState",
    "BatchStats",
    "ControlConfig",
    "ControlHParams",
    "ControlState",
    "DPResult",
    "Episode",
    "PredictionConfig",
    "PredictionHParams",
    "PredictionState",
    "add_returns",
    "add_transition",
    "bandits",
    "batch_increment",
    "batch_solve",
    "control",
    "dp",
    "dyna",
    "episode_returns",
    "epsilon_greedy",
    "epsilon_greedy_probs",
    "first_visit_mask",
    "gradient_bandit_update",
    "greedy_policy",
    "greedy_probs",
    "mc_update",
    "one_hot_policy",
    "policies",
    "policy_evaluation",
    "policy_iteration",
    "prediction",
    "q_from_v",
    "random_argmax",
    "sample",
    "softmax",
    "softmax_probs",
    "td0_update",
    "td_error",
    "ucb_scores",
    "uniform_policy",
    "value_iteration",
]

_SPECS = [
    # name, description, config, hparams, make_train, env_kind, default_env
    (
        "bandit_epsilon_greedy",
        "epsilon-greedy bandit agent, sample-average or constant step (S&B 2.2-2.5)",
        bandits.BanditConfig,
        bandits.BanditHParams,
        bandits.make_train,
        "bandit",
        "Bandit-v0",
    ),
    (
        "bandit_optimistic",
        "greedy bandit agent with optimistic initial values Q1=5 (S&B 2.6)",
        bandits.OptimisticConfig,
        bandits.OptimisticHParams,
        bandits.make_train,
        "bandit",
        "Bandit-v0",
    ),
    (
        "bandit_ucb",
        "upper-confidence-bound action selection, Q + c sqrt(ln t / N) (S&B 2.7)",
        bandits.UCBConfig,
        bandits.BanditHParams,
        bandits.make_train,
        "bandit",
        "Bandit-v0",
    ),
    (
        "bandit_gradient",
        "gradient bandit: soft-max preferences, optional reward baseline (S&B 2.8)",
        bandits.GradientConfig,
        bandits.BanditHParams,
        bandits.make_train,
        "bandit",
        "Bandit-v0",
    ),
    (
        "mc_first_visit",
        "first-visit Monte Carlo prediction of a fixed policy (S&B 5.1)",
        prediction.MCFirstVisitConfig,
        prediction.PredictionHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "mc_every_visit",
        "every-visit constant-alpha Monte Carlo prediction (S&B 5.1, eq. 6.1)",
        prediction.MCEveryVisitConfig,
        prediction.PredictionHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "td0",
        "TD(0) prediction of a fixed policy (S&B 6.1-6.2)",
        prediction.PredictionConfig,
        prediction.PredictionHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "batch_td",
        "batch TD(0): sweep all data seen until convergence after each episode "
        "(S&B 6.3)",
        prediction.BatchTDConfig,
        prediction.BatchHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "batch_mc",
        "batch constant-alpha Monte Carlo: sweep all returns seen until "
        "convergence (S&B 6.3)",
        prediction.BatchMCConfig,
        prediction.BatchHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "nstep_td",
        "n-step TD prediction, the n-step window in the scan state (S&B 7.1)",
        prediction.NStepTDConfig,
        prediction.NStepHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "td_lambda",
        "TD(lambda) prediction, accumulating or replacing traces (S&B 12.2)",
        prediction.TDLambdaConfig,
        prediction.LambdaHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "true_online_td_lambda",
        "true online TD(lambda) prediction, dutch traces (S&B 12.5)",
        prediction.TrueOnlineConfig,
        prediction.LambdaHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "offline_lambda_return",
        "the offline lambda-return algorithm, updates after each episode (S&B 12.1)",
        prediction.OfflineLambdaConfig,
        prediction.LambdaHParams,
        prediction.make_train,
        "tabular",
        "RandomWalk-v0",
    ),
    (
        "q_learning",
        "Q-learning, off-policy TD control with epsilon-greedy behaviour (S&B 6.5)",
        control.QLearningConfig,
        control.ControlHParams,
        control.make_train,
        "tabular",
        "GridWorld-v0",
    ),
    (
        "sarsa",
        "SARSA, on-policy TD control with epsilon-greedy behaviour (S&B 6.4)",
        control.SarsaConfig,
        control.ControlHParams,
        control.make_train,
        "tabular",
        "CliffWalking-v0",
    ),
    (
        "expected_sarsa",
        "Expected SARSA with the epsilon-greedy policy as target (S&B 6.6)",
        control.ExpectedSarsaConfig,
        control.ControlHParams,
        control.make_train,
        "tabular",
        "CliffWalking-v0",
    ),
    (
        "nstep_sarsa",
        "n-step SARSA, the n-step window in the scan state (S&B 7.2)",
        control.NStepSarsaConfig,
        control.NStepControlHParams,
        control.make_train,
        "tabular",
        "WindyGridworld-v0",
    ),
    (
        "nstep_expected_sarsa",
        "n-step Expected SARSA (S&B 7.2, eq. 7.7)",
        control.NStepExpectedSarsaConfig,
        control.NStepControlHParams,
        control.make_train,
        "tabular",
        "WindyGridworld-v0",
    ),
    (
        "sarsa_lambda",
        "SARSA(lambda), accumulating or replacing traces (S&B 12.7)",
        control.SarsaLambdaConfig,
        control.LambdaControlHParams,
        control.make_train,
        "tabular",
        "WindyGridworld-v0",
    ),
    (
        "dyna_q",
        "Dyna-Q: Q-learning plus n planning updates a step from a learned "
        "deterministic model (S&B 8.2)",
        dyna.DynaQConfig,
        dyna.DynaHParams,
        dyna.make_train,
        "tabular",
        "DynaMaze-v0",
    ),
    (
        "dyna_q_plus",
        "Dyna-Q+: Dyna-Q with the exploration bonus kappa sqrt(tau) in planning "
        "(S&B 8.3)",
        dyna.DynaQPlusConfig,
        dyna.DynaPlusHParams,
        dyna.make_train,
        "tabular",
        "DynaMaze-v0",
    ),
]

for _name, _desc, _config, _hparams, _make, _kind, _env in _SPECS:
    register(
        AlgoSpec(
            name=_name,
            description=_desc,
            config_cls=_config,
            hparams_cls=_hparams,
            make_train=_make,
            env_kind=_kind,
            default_env=_env,
        )
    )
del _name, _desc, _config, _hparams, _make, _kind, _env
