"""What the semantic presence head (model.semantic_head) sees of the hard cases, on held-out frames.

Per hazard class and distance band of the nearest object of that class ahead: the cells (8 x 8
pixels, every camera) where the rendered class is present, and how many of them the head calls
present (logit > 0); and, over every frame, the cells where the class is absent and the head
still calls it (false alarms). The distance is the frame's, not the cell's: a cell of a flock's
far goose counts in the band of the nearest one.
"""

from __future__ import annotations

from e2edrive.core.constants import ObjectClass, Semantic
from e2edrive.eval.perception import BANDS
from e2edrive.model.semantic_head import semantic_presence

CLASSES = {  # report name: (the label's object class, the renderer's semantic class)
    "debris": (ObjectClass.UNKNOWN, Semantic.DEBRIS),
    "goose": (ObjectClass.GOOSE, Semantic.GOOSE),
    "chicken": (ObjectClass.CHICKEN, Semantic.CHICKEN),
    "pedestrian": (ObjectClass.PEDESTRIAN, Semantic.PEDESTRIAN),
}
PUDDLE = "puddle"  # no object box: counted in the band "all" over every frame


def semantic_read(model, dataset, device="cpu", batch_size: int = 16, max_frames: int = 4000) -> dict:
    """{name: {band: {"cells", "hits"}, "absent": {"cells", "false_alarms"}}}; {} for a network
    without the head."""
    from e2edrive.eval.held_out import held_out_batches

    if getattr(model, "semantic", None) is None:
        return {}
    bands = [f"{a:g}-{b:g}" for a, b in BANDS]
    names = [*CLASSES, PUDDLE]
    counts = {n: {**{b: [0, 0] for b in (*bands, "all")}, "absent": [0, 0]} for n in names}
    for _, clip, out in held_out_batches(model, dataset, device, batch_size, max_frames):
        lab = clip.labels
        present = semantic_presence(lab.semantics, tuple(out.semantics.shape[-2:])) > 0  # (B, N, S, h, w)
        said = out.semantics > 0
        boxes, cls, valid = lab.boxes.float(), lab.box_class, lab.box_valid.bool()
        ahead = valid & (boxes[..., 0] > 0)
        dist = boxes[..., :2].norm(dim=-1).masked_fill(~ahead, float("inf"))  # (B, K)
        for name in names:
            s = int(Semantic.PUDDLE) if name == PUDDLE else int(CLASSES[name][1])
            here, call = present[:, :, s].flatten(1), said[:, :, s].flatten(1)  # (B, N*h*w) bool
            pos, hit = here, here & call
            counts[name]["absent"][0] += int((~here).sum())
            counts[name]["absent"][1] += int((~here & call).sum())
            if name == PUDDLE:  # no box to measure a distance to: every frame, one band
                counts[name]["all"][0] += int(pos.sum())
                counts[name]["all"][1] += int(hit.sum())
                continue
            mine = cls == int(CLASSES[name][0])
            near = dist.masked_fill(~mine, float("inf")).amin(-1)  # (B,) m to the nearest ahead
            for (a, b), band in zip([*BANDS, (0.0, float("inf"))], [*bands, "all"]):
                m = (near >= a) & (near < b)
                counts[name][band][0] += int(pos[m].sum())
                counts[name][band][1] += int(hit[m].sum())
    return {
        n: {
            **{b: {"cells": c[b][0], "hits": c[b][1]} for b in (*bands, "all")},
            "absent": {"cells": c["absent"][0], "false_alarms": c["absent"][1]},
        }
        for n, c in counts.items()
    }


def semantic_table(read: dict) -> str:
    """Markdown: per class, 'cells: recall' per band and overall, and the false-alarm rate."""
    if not read:
        return "(this network has no semantic head)"
    bands = [b for b in next(iter(read.values())) if b != "absent"]
    rows = ["| class | " + " | ".join(f"{b} m" if b != "all" else "all" for b in bands) + " | false alarms |"]
    rows.append("|---|" + "---|" * (len(bands) + 1))
    for name, r in read.items():
        cells = [
            f"{r[b]['cells']}: {r[b]['hits'] / r[b]['cells']:.0%}" if r[b]["cells"] else "-" for b in bands
        ]
        a = r["absent"]
        cells.append(f"{a['false_alarms'] / max(a['cells'], 1):.2%}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
