"""`e2edrive dagger`: online imitation / DAgger with expert takeovers (see e2edrive.train.online)."""

from __future__ import annotations

from e2edrive.train.online import main as _online_main


def main(argv: list[str]) -> int:
    return _online_main(argv)
