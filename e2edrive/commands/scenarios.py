"""`e2edrive scenarios`: list the scenario catalog, one line each (name, suite, tags, description)."""

from __future__ import annotations

from dataclasses import dataclass

import tyro


@dataclass
class ScenariosArgs:
    """List the scenario catalog."""

    verbose: bool = False
    """also print each scenario's episode length"""


def main(argv: list[str] | None = None) -> int:
    args = tyro.cli(ScenariosArgs, args=argv, prog="e2edrive scenarios")
    from e2edrive.eval.suites import SUITES
    from e2edrive.sim.scenarios import SCENARIOS  # loads torch: after parsing, so --help stays fast

    suite_of = {n: s for s, names in SUITES.items() if s != "all" for n in names}
    width = max(len(n) for n in SCENARIOS)
    for name, cls in SCENARIOS.items():
        tags = ",".join(cls.tags)
        extra = f"  [{cls.seconds:.0f} s]" if args.verbose else ""
        print(f"{name:<{width}}  {suite_of.get(name, '-'):<6}  {tags:<40}  {cls.description}{extra}")
    return 0
