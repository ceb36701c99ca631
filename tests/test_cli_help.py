"""One CLI: every verb answers `--help` in a fresh process with `usage: e2edrive VERB`, quickly.

Measured on a 2-core development machine (min of 3, other jobs running): python + `import e2edrive`
(which imports gymnasium, numpy included, to register the environments) takes about 0.2 s, a
verb's --help 0.22-0.33 s; a verb that imports torch at module level takes 1.6-1.9 s. The bound,
0.5 s (best of 3 tries), keeps torch out of --help with margin for a loaded machine.
"""

import subprocess
import sys
import time

import pytest

from e2edrive.cli import COMMANDS

HELP_BOUND_S = 0.5
# Verbs that still import torch when their module loads get a bound that only catches a hang; none
# does today (add one here only with the reason).
IMPORTS_TORCH: dict[str, float] = {}


def _help(verb: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "e2edrive.cli", verb, "--help"], capture_output=True, text=True, timeout=60
    )
    return time.perf_counter() - t0, out


@pytest.mark.parametrize("verb", list(COMMANDS))
def test_verb_help_usage_line_and_speed(verb):
    bound = IMPORTS_TORCH.get(verb, HELP_BOUND_S)
    best = float("inf")
    for _ in range(3):  # best of 3: one slow start on a busy machine is not a regression
        seconds, out = _help(verb)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"usage: e2edrive {verb}"), out.stdout.splitlines()[:1]
        best = min(best, seconds)
        if best < bound:
            break
    assert best < bound, (
        f"e2edrive {verb} --help took {best:.2f} s (bound {bound} s): import heavy modules lazily"
    )


def test_top_level_help_lists_every_verb():
    seconds, out = _help("--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: e2edrive VERB")
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)
