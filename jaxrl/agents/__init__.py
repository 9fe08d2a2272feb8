"""Deep RL agents; importing this package registers them in :mod:`jaxrl.registry`.

On-policy (one shared loop, :mod:`jaxrl.agents.onpolicy`): ``reinforce``,
``a2c``, ``ppo``. Off-policy (one shared loop, :mod:`jaxrl.agents.offpolicy`):
``dqn``, ``sac`` (continuous actions), ``sac_discrete``, and the world-model
agent ``dreamer`` on the same loop.
"""

from jaxrl.agents import a2c, dqn, dreamer, ppo, reinforce, sac

__all__ = ["a2c", "dqn", "dreamer", "ppo", "reinforce", "sac"]
