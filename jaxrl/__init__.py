"""jaxrl: functional reinforcement learning in JAX.

Environments and agents are pure functions; runs over thousands of seeds and
hyperparameter settings are one compiled call (see :mod:`jaxrl.parallel`).
"""

__version__ = "0.1.0"
