"""Atari-57 human-normalised scores, from the standard random and human table.

The table ships with the package as ``jaxrl/stats/atari_scores.csv`` (its
header names the source: Badia et al. 2020, Agent57's table, whose random
scores follow Mnih et al. 2015 and whose human scores are the later ones) and
is read with :mod:`importlib.resources`. A game's
human-normalised score is

    (score - random) / (human - random),

0 for the random policy and 1 for the human tester (Mnih et al. 2015;
Agarwal et al. 2021 aggregate these over the 57 games).

Games are named as EnvPool names them: ``atari_game("envpool:Pong-v5")`` is
``"Pong"``; case, ``_``, an ``ALE/`` prefix and a ``-vN`` or ``NoFrameskip``
suffix do not matter (``pong``, ``ALE/Pong-v5``, ``PongNoFrameskip-v4``,
``ms_pacman``).
"""

import csv
import functools
import importlib.resources
import re

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ATARI_GAMES", "atari_game", "atari_human_normalized", "atari_scores"]

_DATA = "atari_scores.csv"
_PREFIX = re.compile(r"^(envpool:)?(ale/)?", re.IGNORECASE)
_SUFFIX = re.compile(r"(noframeskip)?(-v\d+)?$", re.IGNORECASE)


@functools.cache
def _table() -> dict[str, tuple[str, float, float]]:
    """``{key: (game, random, human)}`` with keys lower case, no ``_``."""
    text = importlib.resources.files(__package__).joinpath(_DATA).read_text("utf-8")
    rows = csv.DictReader(
        line for line in text.splitlines() if not line.startswith("#")
    )
    return {
        _key(row["game"]): (row["game"], float(row["random"]), float(row["human"]))
        for row in rows
    }


def _key(name: str) -> str:
    return name.lower().replace("_", "")


ATARI_GAMES: tuple[str, ...] = tuple(sorted(game for game, _, _ in _table().values()))


def atari_game(name: str) -> str:
    """The table's name of the Atari game of an environment name.

    Args:
        name: ``"envpool:Pong-v5"``, ``"Pong-v5"``, ``"ALE/Pong-v5"``,
            ``"PongNoFrameskip-v4"``, ``"pong"``, ``"ms_pacman"``, ...

    Returns:
        The game as the table names it (EnvPool's spelling), e.g. ``"Pong"``.

    Raises:
        ValueError: the name is not one of the 57 games, with what is allowed.
    """
    stem = _SUFFIX.sub("", _PREFIX.sub("", str(name)))
    entry = _table().get(_key(stem))
    if entry is None:
        raise ValueError(
            f"{name!r} is not one of the 57 Atari games with random and human "
            f"reference scores (game {stem!r}); allowed: {', '.join(ATARI_GAMES)}"
        )
    return entry[0]


def atari_scores(game: str) -> tuple[float, float]:
    """``(random, human)`` reference scores of a game (any name
    :func:`atari_game` takes)."""
    _, random, human = _table()[_key(atari_game(game))]
    return random, human


def atari_human_normalized(scores: ArrayLike, game: str) -> np.ndarray:
    """Human-normalised scores of one game: ``(score - random) / (human -
    random)`` (Mnih et al. 2015), any shape; NaN stays NaN.

    Args:
        scores: raw game scores (unclipped returns), any shape.
        game: the game or an environment name (``"envpool:Pong-v5"``).

    Returns:
        float64 array of the shape of ``scores``.

    Raises:
        ValueError: an unknown game.
    """
    random, human = atari_scores(game)
    return (np.asarray(scores, np.float64) - random) / (human - random)
