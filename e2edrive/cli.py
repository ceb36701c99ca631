"""`e2edrive VERB ...`: the one place that wires rooms together. Each verb lives in
`e2edrive/commands/VERB.py` with a `main(argv) -> int`; this registry names them explicitly.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, str] = {
    "scenarios": "list the scenario catalog",
    "drive": "drive scenarios with a driver; per-scenario results, --json, --video",
    "collect": "record drives into a dataset (Parquet index + array shards)",
    "dataset": "look inside a dataset: info, verify checksums, episode video, export to Parquet + MP4",
    "mine": "SQL over a dataset's index and trigger clips -> clip manifest for train --manifest",
    "train": "imitation training of a driving network",
    "dagger": "online imitation / DAgger from the simulator, with expert takeovers recorded",
    "eval": "closed-loop evaluation of a checkpoint or a named driver on a suite",
    "curate": "balanced training clips (quotas, near-duplicates, trivial clips) and unseen eval sets",
    "replay": "re-drive a checkpoint on a failure bank: fixed / still failing / regressed / stale",
    "robustness": "driving score under camera and actuator faults: resilience rate, corruption error",
    "export": "export a checkpoint to ONNX",
    "quickstart": "collect, train the tiny preset, evaluate closed loop, write the report",
    "worldmodel": "train the 8-camera world model (train) or measure its fidelity by horizon (eval)",
    "dream": "drive scenarios inside a trained world model, from live World contexts; --video, --inject",
}


def usage() -> str:
    lines = ["usage: e2edrive VERB [options]   (e2edrive VERB --help for a verb's options)", "", "verbs:"]
    lines += [f"  {name:<11} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    verb, rest = argv[0], argv[1:]
    if verb not in COMMANDS:
        print(f"e2edrive: unknown verb {verb!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"e2edrive.commands.{verb}")
    try:
        code = int(module.main(rest) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        # `e2edrive drive --json | head -c 10`: the reader left; what it wanted it has. Point stdout
        # at devnull so the interpreter's final flush does not raise again, and exit quietly.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError) as e:
        # Bad input a verb did not catch itself: one line, no traceback (a bug raises other types).
        line = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"e2edrive {verb}: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
