"""Deep RL agents; importing this package registers them in :mod:`jaxrl.registry`.

On-policy (one shared loop, :mod:`jaxrl.agents.onpolicy`): ``reinforce``,
``a2c``, ``ppo``.
"""

from jaxrl.agents import a2c, ppo, reinforce

__all__ = ["a2c", "ppo", "reinforce"]
