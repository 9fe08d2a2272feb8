"""The README's code runs as written."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_writing_an_agent_example_runs_and_learns(capsys):
    text = README.read_text()
    section = text[text.index("### Writing an agent") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    out = scope["out"].metrics["return"]
    assert "mean training return" in capsys.readouterr().out
    # Random CartPole returns about 22; the example's 30k steps learn.
    assert np.nanmean(np.asarray(out)[-20:]) > 60
