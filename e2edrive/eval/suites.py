"""Evaluation suites and the seed split that keeps evaluation honest.

Suites name scenario sets: `basic` is the everyday driving a policy must master first, `corner`
the seven hard cases of ARCHITECTURE.md's catalog, `urban` routes that turn at junctions and their
hard cases, `all` every registered scenario.

Seeds. Every episode is a function of (scenario, seed). Training data is recorded from seeds in
[0, TRAIN_SEED_LIMIT) and evaluation defaults to seeds from EVAL_SEED_START = 1,000,000 up, so the
two are disjoint by construction; on top of that, a checkpoint stores the exact (scenario, seed)
set it was trained on and `check_disjoint` refuses an evaluation that overlaps it, naming the
offending seeds: a score measured on training episodes is not a score.
"""

from __future__ import annotations

SUITES: dict[str, tuple[str, ...]] = {
    "basic": ("lane_follow", "follow_lead", "traffic_light"),
    "corner": (
        "chickens_crossing",
        "geese_standing",
        "puddle",
        "spinout_ahead",
        "cut_in",
        "pedestrian_close",
        "unknown_object",
    ),
}
SUITES["urban"] = (
    "traffic_light_turn",
    "turn_left_unprotected",
    "turn_right_crosswalk",
    "red_light_runner",
    "construction_zone",
    "occluded_pedestrian",
)
SUITES["all"] = SUITES["basic"] + SUITES["corner"] + SUITES["urban"]

TRAIN_SEED_LIMIT = 100_000  # training seeds live in [0, TRAIN_SEED_LIMIT)
EVAL_SEED_START = 1_000_000  # default evaluation seeds start here


def suite_scenarios(name: str) -> tuple[str, ...]:
    """The scenarios of a suite, or of a comma-separated list of suites and scenario names
    ("basic,corner", "basic,cut_in"), each scenario once, in the order named."""
    if name in SUITES:
        return SUITES[name]
    from e2edrive.sim.scenarios.registry import resolve_scenarios

    out: list[str] = []
    for part in [p.strip() for p in name.split(",")] or [name]:
        try:
            names = SUITES[part] if part in SUITES else resolve_scenarios(part)
        except KeyError as e:
            raise KeyError(
                f"unknown suite {name!r}: suites are {sorted(SUITES)}, or name scenarios ({e.args[0]})"
            ) from None
        out += [n for n in names if n not in out]
    return tuple(out)


def default_eval_seeds(n: int) -> range:
    """The first n evaluation seeds."""
    return range(EVAL_SEED_START, EVAL_SEED_START + n)


def check_disjoint(train_seeds: dict[str, list[list[int]]], scenarios, seeds) -> None:
    """Raise ValueError if any (scenario, seed) to evaluate was in the training set."""
    bad = {s: seed_overlap(train_seeds, s, seeds) for s in scenarios}
    bad = {s: v for s, v in bad.items() if v}
    if bad:
        detail = "; ".join(
            f"{s}: {v[:5]}{' ...' if len(v) > 5 else ''} ({len(v)} seeds)" for s, v in bad.items()
        )
        raise ValueError(
            f"evaluation seeds overlap the checkpoint's training seeds ({detail}). Evaluate on unseen seeds, "
            f"e.g. --seeds {EVAL_SEED_START}:{EVAL_SEED_START + 50}"
        )


def seed_overlap(
    train_seeds: dict[str, list[list[int]]], scenario: str, seeds: range | list[int]
) -> list[int]:
    """The seeds of `seeds` that the model was trained on for `scenario`."""
    ranges = train_seeds.get(scenario, [])
    return [s for s in seeds if any(a <= s < b for a, b in ranges)]
