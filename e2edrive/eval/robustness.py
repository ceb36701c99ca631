"""Robustness to sensor and actuator faults: the driving score of a policy under each fault and
severity (sim.faults), against its clean score and against a reference policy.

    RR_{f,s} = DS_{f,s} / DS_clean                      resilience rate (1: the fault costs nothing)
    mRR      = mean over faults f of mean over s RR_{f,s}
    CE_f     = sum_s (100 - DS_{f,s}) / sum_s (100 - DS^ref_{f,s})      corruption error (Hendrycks &
               Dietterich's ImageNet-C form with the driving score's shortfall as the error; the
               reference is DAVE-2, the simplest camera policy, as AlexNet is for ImageNet-C)
    mCE      = 100 * mean over f of CE_f, in percent (< 100: more robust than the reference)

`RobustnessTable` holds the numbers and writes them as markdown, JSON and an SVG bar chart.
A quantity whose denominator is 0 (a clean score of 0, a reference that never loses a point)
is undefined: None in JSON, "-" in the table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2edrive.core.env import Driver

# scores[fault][severity] = mean driving score in [0, 100]
Scores = dict[str, dict[int, float]]


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def resilience_rates(clean: float, scores: Scores) -> dict[str, dict[int, float]]:
    """RR per fault and severity: DS under the fault / clean DS (nan if the clean DS is 0)."""
    return {f: {s: _ratio(ds, clean) for s, ds in by_sev.items()} for f, by_sev in scores.items()}


def mean_rr(rr: dict[str, dict[int, float]]) -> float:
    """mRR: mean over faults of the mean over severities; nan if any RR is."""
    per_fault = [sum(v.values()) / len(v) for v in rr.values() if v]
    return sum(per_fault) / len(per_fault) if per_fault else math.nan


def corruption_errors(scores: Scores, reference: Scores) -> dict[str, float]:
    """CE_f over the severities both were driven at; nan when the reference lost no point."""
    out = {}
    for f, by_sev in scores.items():
        ref = reference.get(f, {})
        sevs = [s for s in by_sev if s in ref]
        if not sevs:
            raise ValueError(f"reference has no score for fault {f!r} at severities {sorted(by_sev)}")
        out[f] = _ratio(sum(100 - by_sev[s] for s in sevs), sum(100 - ref[s] for s in sevs))
    return out


def mean_ce(ce: dict[str, float]) -> float:
    """mCE in percent."""
    return 100 * sum(ce.values()) / len(ce) if ce else math.nan


@dataclass
class RobustnessTable:
    """Driving scores of one policy (and optionally a reference) clean and under each fault."""

    name: str
    clean: float
    scores: Scores
    reference_name: str | None = None
    reference_clean: float | None = None
    reference: Scores | None = None
    episodes: int = 0
    setup: dict = field(default_factory=dict)  # what was driven: suite, seeds, ... (reference reuse)
    rr: dict[str, dict[int, float]] = field(init=False)
    ce: dict[str, float] | None = field(init=False)

    def __post_init__(self):
        self.rr = resilience_rates(self.clean, self.scores)
        self.ce = corruption_errors(self.scores, self.reference) if self.reference is not None else None

    @property
    def mrr(self) -> float:
        return mean_rr(self.rr)

    @property
    def mce(self) -> float | None:
        return None if self.ce is None else mean_ce(self.ce)

    @property
    def severities(self) -> list[int]:
        return sorted({s for v in self.scores.values() for s in v})

    @classmethod
    def from_dict(cls, d: dict) -> RobustnessTable:
        """The table that to_dict wrote (its scores rounded to 4 decimals, as written there)."""

        def scores(key: str) -> Scores:
            return {f: {int(s): v for s, v in x[key].items()} for f, x in d["faults"].items()}

        ref = d.get("reference")
        return cls(
            d["policy"],
            d["clean_driving_score"],
            scores("driving_score"),
            ref,
            d.get("reference_clean_driving_score"),
            scores("reference_driving_score") if ref else None,
            d.get("episodes_per_condition", 0),
            d.get("setup", {}),
        )

    def reference_table(self) -> RobustnessTable:
        """The reference's own table, against itself (its mCE is 100 by definition)."""
        if self.reference is None:
            raise ValueError(f"table of {self.name} has no reference")
        ref, clean = self.reference, self.reference_clean
        return RobustnessTable(
            self.reference_name, clean, ref, self.reference_name, clean, ref, self.episodes, self.setup
        )

    def to_dict(self) -> dict:
        def num(x):
            return None if x is None or not math.isfinite(x) else round(x, 4)

        faults = {}
        for f, by_sev in self.scores.items():
            faults[f] = {
                "driving_score": {str(s): num(v) for s, v in by_sev.items()},
                "rr": {str(s): num(v) for s, v in self.rr[f].items()},
            }
            if self.reference is not None:
                faults[f]["reference_driving_score"] = {str(s): num(self.reference[f].get(s)) for s in by_sev}
                faults[f]["ce"] = num(self.ce[f])
        return {
            "policy": self.name,
            "reference": self.reference_name,
            "episodes_per_condition": self.episodes,
            "setup": self.setup,
            "clean_driving_score": num(self.clean),
            "reference_clean_driving_score": num(self.reference_clean),
            "mRR": num(self.mrr),
            "mCE_percent": num(self.mce),
            "faults": faults,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    def markdown(self) -> str:
        def cell(x, pct=False):
            if x is None or not math.isfinite(x):
                return "-"
            return f"{100 * x:.0f}%" if pct else f"{x:.1f}"

        sevs = self.severities
        header = ["fault", *[f"DS s{s}" for s in sevs], *[f"RR s{s}" for s in sevs]]
        if self.ce is not None:
            header.append("CE")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for f, by_sev in self.scores.items():
            row = [
                f,
                *[cell(by_sev.get(s)) for s in sevs],
                *[cell(self.rr[f].get(s), pct=True) for s in sevs],
            ]
            if self.ce is not None:
                row.append(cell(self.ce[f], pct=True))
            lines.append("| " + " | ".join(row) + " |")
        summary = f"{self.name}: clean driving score {cell(self.clean)}, mRR {cell(self.mrr, pct=True)}"
        if self.ce is not None:
            summary += f", mCE {cell(self.mce)}% against {self.reference_name}"
        return summary + "\n\n" + "\n".join(lines)

    def svg(self, width: int = 720, bar_h: int = 14) -> str:
        """Horizontal bars: RR per fault, one bar per severity (shaded light to dark)."""
        sevs, faults = self.severities, list(self.scores)
        left, top, gap = 120, 40, 8
        group_h = bar_h * len(sevs) + gap
        height = top + group_h * len(faults) + 30
        scale = (width - left - 60) / 1.2  # RR axis from 0 to 1.2
        shades = {1: "#9ecae1", 2: "#4292c6", 3: "#08519c"}
        title = f"{self.name}: resilience rate per fault"
        if math.isfinite(self.mrr):
            title += f" (mRR {100 * self.mrr:.0f}%)"
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            'font-family="sans-serif" font-size="11">',
            f'<text x="{left}" y="20" font-size="13">{title}</text>',
        ]
        x1 = left + scale
        out.append(f'<line x1="{x1:.0f}" y1="{top - 5}" x2="{x1:.0f}" y2="{height - 25}" stroke="#888"/>')
        out.append(f'<text x="{x1 - 8:.0f}" y="{height - 10}">1.0</text>')
        for i, f in enumerate(faults):
            y0 = top + i * group_h
            out.append(f'<text x="{left - 6}" y="{y0 + group_h / 2:.0f}" text-anchor="end">{f}</text>')
            for j, s in enumerate(sevs):
                rr = self.rr[f].get(s, math.nan)
                w = 0 if not math.isfinite(rr) else max(0.0, min(rr, 1.2)) * scale
                y = y0 + j * bar_h
                fill = shades.get(s, "#555")
                out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{fill}"/>')
                label = "-" if not math.isfinite(rr) else f"{100 * rr:.0f}%"
                out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 4}">s{s} {label}</text>')
        out.append("</svg>")
        return "\n".join(out)

    def write(self, directory: str | Path) -> list[Path]:
        """DIR/robustness.md, .json and .svg."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = [d / "robustness.md", d / "robustness.json", d / "robustness.svg"]
        for p, text in zip(paths, (self.markdown() + "\n", self.to_json() + "\n", self.svg())):
            p.write_text(text)
        return paths


def merge_tables(tables: list[RobustnessTable]) -> RobustnessTable:
    """One table from tables of the same policy, reference and episodes over parts of the fault
    grid (a grid too long for one run). Each part drove the clean episodes too: they must agree,
    as must any condition found in two parts."""
    first = tables[0]
    scores: Scores = {}
    reference: Scores | None = None if first.reference is None else {}
    for t in tables:
        same = (t.name, t.reference_name, t.setup, t.episodes, t.clean, t.reference_clean)
        if same != (
            first.name,
            first.reference_name,
            first.setup,
            first.episodes,
            first.clean,
            first.reference_clean,
        ):
            raise ValueError(
                f"tables differ in policy, reference, episodes or clean score: {first.name} {first.setup} "
                f"clean {first.clean} vs {t.name} {t.setup} clean {t.clean}"
            )
        for f, by_sev in t.scores.items():
            for sev, ds in by_sev.items():
                if scores.setdefault(f, {}).setdefault(sev, ds) != ds:
                    raise ValueError(f"tables disagree on {f}:{sev}: {scores[f][sev]} vs {ds}")
                if reference is not None:
                    reference.setdefault(f, {})[sev] = t.reference[f][sev]
    return RobustnessTable(
        first.name,
        first.clean,
        scores,
        first.reference_name,
        first.reference_clean,
        reference,
        first.episodes,
        first.setup,
    )


def driving_scores(
    makers: list[Callable[[], Driver]], pairs, specs: list[str], run_kwargs: dict, workers: int = 1
) -> list[tuple[float, Scores]]:
    """For the driver each of `makers` builds: its mean driving score over `pairs`, clean and under
    each 'NAME:S' of specs. The makers must be picklable with workers > 1: each worker process
    builds its own drivers.

    workers > 1 drives the conditions of every driver in that many processes of one torch thread
    each, the first driver's first. A condition is driven whole, in the same batches as in one
    process, so the scores are those of workers=1 run with one torch thread."""
    conditions = [None, *specs]  # None: clean
    jobs = [(make, pairs, spec, run_kwargs) for make in makers for spec in conditions]
    if workers <= 1:
        drivers = [make() for make in makers]
        means = [_mean_score(drivers[i // len(conditions)], *job[1:]) for i, job in enumerate(jobs)]
    else:
        import multiprocessing as mp

        quiet = [(*job[:3], {**job[3], "progress": False}) for job in jobs]
        with mp.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_one_thread) as pool:
            means = list(_progress(pool.imap(_condition_job, quiet), len(jobs), run_kwargs.get("progress")))
    out = []
    for k in range(len(makers)):
        row = means[k * len(conditions) : (k + 1) * len(conditions)]
        scores: Scores = {}
        for spec, mean in zip(specs, row[1:]):
            name, _, sev = spec.partition(":")
            scores.setdefault(name, {})[int(sev)] = mean
        out.append((row[0], scores))
    return out


def reference_from_json(path: str | Path, setup: dict, specs: list[str]) -> tuple[str, float, Scores]:
    """(name, clean score, scores) of the DAVE-2 reference in a table written earlier (--json or
    --report), either DAVE-2's own table or one with DAVE-2 as its reference. It must have been
    driven on the same episodes (setup) and hold every condition of specs."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"reference table {p} does not exist")
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"reference table {p} is not JSON ({e})") from None
    if d.get("setup") != setup:
        raise ValueError(f"reference table {p} was driven with {d.get('setup')}, not {setup}")
    faults = d.get("faults", {})
    if d.get("policy") == "dave2":
        clean, key = d["clean_driving_score"], "driving_score"
    elif d.get("reference") == "dave2":
        clean, key = d["reference_clean_driving_score"], "reference_driving_score"
    else:
        raise ValueError(f"reference table {p} holds no DAVE-2 scores (policy {d.get('policy')!r})")
    scores: Scores = {}
    for spec in specs:
        name, _, sev = spec.partition(":")
        ds = faults.get(name, {}).get(key, {}).get(sev)
        if ds is None:
            raise ValueError(f"reference table {p} has no DAVE-2 score for {spec}")
        scores.setdefault(name, {})[int(sev)] = ds
    return "dave2", clean, scores


def _mean_score(driver: Driver, pairs, spec: str | None, run_kwargs: dict) -> float:
    from e2edrive.eval.runner import run_closed_loop
    from e2edrive.sim.faults import parse_fault

    faults = [] if spec is None else [parse_fault(spec)]
    desc = f"{driver.name} {spec or 'clean'}"
    results = run_closed_loop(driver, pairs, faults=faults, desc=desc, **run_kwargs)
    return sum(r.driving_score for r in results) / len(results)


_WORKER_DRIVERS: dict = {}  # per worker process: the driver each make_driver built, built once


def _condition_job(job) -> float:
    make_driver, pairs, spec, run_kwargs = job
    key = repr(make_driver)
    if key not in _WORKER_DRIVERS:
        _WORKER_DRIVERS[key] = make_driver()
    return _mean_score(_WORKER_DRIVERS[key], pairs, spec, run_kwargs)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _progress(it, total: int, show: bool | None):
    if not show:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="conditions", unit="cond", dynamic_ncols=True)
