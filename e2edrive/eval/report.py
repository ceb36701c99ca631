"""The evaluation report: one self-contained `index.html` (plots are inline SVG drawn here, no
matplotlib), with failure videos beside it in `videos/`.

Sections: the summary table (driving score and pass rate per driver), per-scenario tables, bar
charts of the driving score and the pass rate per scenario and driver, the open-loop vs
closed-loop comparison (a table and a scatter plot: open-loop L2 does not predict driving, and
the plot shows it), and the videos of failed episodes.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from e2edrive.sim.metrics import EpisodeResult, summarize

SVG_FONT = 'font-family="sans-serif" font-size="10"'
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass
class DriverEval:
    """Everything measured for one driver."""

    name: str
    results: list[EpisodeResult]
    open_loop: dict | None = None  # model.open_loop metrics on held-out clips (networks only)
    videos: list[tuple[str, int, str]] = field(default_factory=list)  # (scenario, seed, relative path)

    @property
    def summary(self) -> dict:
        return summarize(self.results)


def _fmt(v, digits: int = 1, pct: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.0f}%" if pct else f"{v:.{digits}f}"


def _svg_open(W: int, H: int) -> str:
    return f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg" {SVG_FONT}>'


def _bar_chart(title: str, groups: list[str], series: dict[str, list[float]], vmax: float, unit: str) -> str:
    """Grouped vertical bars: one group per scenario, one bar per driver."""
    W, H, left, bottom, top = 760, 260, 40, 70, 24
    n_s = max(1, len(series))
    gw = (W - left - 10) / max(1, len(groups))
    bw = gw * 0.8 / n_s
    out = [
        _svg_open(W, H),
        f'<text x="{W / 2}" y="14" text-anchor="middle" font-size="12">{html.escape(title)}</text>',
    ]
    ph = H - bottom - top
    for k in range(5):
        y = top + ph * (1 - k / 4)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{W - 10}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{vmax * k / 4:g}{unit}</text>'
        )
    for gi, g in enumerate(groups):
        x0 = left + gi * gw + gw * 0.1
        for si, (name, values) in enumerate(series.items()):
            v = max(0.0, min(vmax, values[gi]))
            h = ph * v / vmax
            out.append(
                f'<rect x="{x0 + si * bw:.1f}" y="{top + ph - h:.1f}" '
                f'width="{bw * 0.95:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{html.escape(name)} {html.escape(g)}: '
                f"{values[gi]:.1f}</title></rect>"
            )
        out.append(
            f'<text transform="translate({x0 + gw * 0.4:.1f},{top + ph + 8}) rotate(30)" '
            f'font-size="10">{html.escape(g)}</text>'
        )
    for si, name in enumerate(series):
        x = left + si * 120
        out.append(
            f'<rect x="{x}" y="{H - 14}" width="10" height="10" fill="{PALETTE[si % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{H - 5}">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _scatter(points: list[tuple[str, float, float]], xlabel: str, ylabel: str) -> str:
    """Open-loop error (x) against closed-loop driving score (y), one labelled point per driver."""
    W, H, m = 420, 300, 50
    xmax = max([p[1] for p in points] + [1e-6]) * 1.15
    out = [
        _svg_open(W, H),
        f'<line x1="{m}" y1="{H - m}" x2="{W - 10}" y2="{H - m}" stroke="#000"/>'
        f'<line x1="{m}" y1="{H - m}" x2="{m}" y2="10" stroke="#000"/>',
        f'<text x="{(W + m) / 2}" y="{H - 15}" text-anchor="middle">{html.escape(xlabel)}</text>',
        f'<text transform="translate(14,{H / 2}) rotate(-90)" text-anchor="middle">'
        f"{html.escape(ylabel)}</text>",
    ]
    for k in range(5):
        y = H - m - (H - m - 10) * k / 4
        x = m + (W - 10 - m) * k / 4
        out.append(
            f'<text x="{m - 4}" y="{y + 3:.1f}" text-anchor="end">{25 * k}</text>'
            f'<text x="{x:.1f}" y="{H - m + 12}" text-anchor="middle">{xmax * k / 4:.2f}</text>'
        )
    for i, (name, x, y) in enumerate(points):
        px = m + (W - 10 - m) * x / xmax
        py = H - m - (H - m - 10) * max(0.0, min(100.0, y)) / 100
        out.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{px + 7:.1f}" y="{py + 3:.1f}">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def summary_rows(evals: list[DriverEval]) -> tuple[list[str], list[list[str]]]:
    """Driver x (driving score, pass rate, collision rate per suite-level summary): the printed table."""
    header = ["driver", "episodes", "driving score", "pass rate", "collision rate", "route completion"]
    rows = []
    for e in evals:
        s, rs = e.summary, e.results
        coll = sum(r.n_collisions > 0 for r in rs) / len(rs)
        rc = sum(r.route_completion for r in rs) / len(rs)
        rows.append(
            [
                e.name,
                str(len(rs)),
                _fmt(s["driving_score"]),
                _fmt(s["pass_rate"], pct=True),
                _fmt(coll, pct=True),
                _fmt(rc, pct=True),
            ]
        )
    return header, rows


def scenario_rows(e: DriverEval) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "episodes",
        "driving score",
        "pass rate",
        "collision rate",
        "route completion",
        "red-light runs",
        "off-road",
        "comfortable",
    ]
    rows = []
    for name, s in e.summary["by_scenario"].items():
        rs = [r for r in e.results if r.scenario == name]
        rows.append(
            [
                name,
                str(s["episodes"]),
                _fmt(s["driving_score"]),
                _fmt(s["pass_rate"], pct=True),
                _fmt(s["collision_rate"], pct=True),
                _fmt(s["route_completion"], pct=True),
                str(sum(r.red_light_runs for r in rs)),
                _fmt(sum(r.off_road for r in rs) / len(rs), pct=True),
                _fmt(sum(r.comfortable for r in rs) / len(rs), pct=True),
            ]
        )
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(
    out_dir: str | Path,
    evals: list[DriverEval],
    title: str = "e2edrive evaluation",
    notes: list[str] | None = None,
) -> Path:
    """Write OUT/index.html (and OUT/results.json with every episode). Returns the HTML path."""
    if not evals:
        raise ValueError("nothing to report: no driver was evaluated")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scenarios = list(dict.fromkeys(r.scenario for e in evals for r in e.results))
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in (notes or [])]
    parts.append("<h2>Summary</h2>" + _table(*summary_rows(evals)))
    score = {
        e.name: [e.summary["by_scenario"].get(s, {}).get("driving_score", 0.0) for s in scenarios]
        for e in evals
    }
    passed = {
        e.name: [100 * e.summary["by_scenario"].get(s, {}).get("pass_rate", 0.0) for s in scenarios]
        for e in evals
    }
    parts.append(_bar_chart("driving score per scenario", scenarios, score, 100, ""))
    parts.append(_bar_chart("pass rate per scenario", scenarios, passed, 100, "%"))

    with_ol = [e for e in evals if e.open_loop]
    if with_ol:
        parts.append(
            "<h2>Open loop vs closed loop</h2><p>Open-loop errors on held-out recorded clips against the "
            "closed-loop driving score on unseen seeds. L2 at 3 s is not available: the plan covers 2 s "
            "(10 poses at 0.2 s).</p>"
        )
        rows = [
            [
                e.name,
                _fmt(e.open_loop.get("l2_1s"), 3),
                _fmt(e.open_loop.get("l2_2s"), 3),
                _fmt(e.open_loop.get("l2_3s"), 3),
                _fmt(e.open_loop.get("steer_err"), 4),
                _fmt(e.open_loop.get("accel_err"), 3),
                _fmt(e.summary["driving_score"]),
                _fmt(e.summary["pass_rate"], pct=True),
            ]
            for e in with_ol
        ]
        parts.append(
            _table(
                [
                    "driver",
                    "L2@1s (m)",
                    "L2@2s (m)",
                    "L2@3s",
                    "steer err (rad)",
                    "accel err (m/s2)",
                    "driving score",
                    "pass rate",
                ],
                rows,
            )
        )
        parts.append(
            _scatter(
                [(e.name, e.open_loop.get("l2_2s") or 0.0, e.summary["driving_score"]) for e in with_ol],
                "open-loop L2 at 2 s (m)",
                "closed-loop driving score",
            )
        )

    for e in evals:
        parts.append(f"<h2>{html.escape(e.name)}</h2>" + _table(*scenario_rows(e)))
        if e.videos:
            parts.append("<h3>Failures</h3>")
            for scenario, seed, rel in e.videos:
                parts.append(
                    f'<figure><video src="{html.escape(rel)}" controls width="512"></video>'
                    f"<figcaption>{html.escape(scenario)} seed {seed}</figcaption></figure>"
                )
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}"
        "figure{display:inline-block;margin:6px}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    path = out_dir / "index.html"
    path.write_text(page)
    (out_dir / "results.json").write_text(
        json.dumps(
            {
                e.name: {
                    "episodes": [r.to_dict() for r in e.results],
                    "summary": e.summary,
                    "open_loop": e.open_loop,
                }
                for e in evals
            },
            indent=1,
        )
    )
    return path
