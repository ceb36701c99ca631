"""Does the network see the oncoming lane beyond its BEV? The far-traffic head against its label.

On frames whose oncoming gap is recorded (Labels.oncoming_gap, NaN: not), for each threshold d of
model.far_traffic.FAR_GAPS the head says "an oncoming vehicle closer than d" when its probability
exceeds 0.5. Reported per d: frames where one truly is (positives) and the share of them it calls
(recall), frames where none is (negatives) and the share it calls anyway (false alarms). The
threshold that decides a pass from standstill is about 100 m; the BEV itself ends at 48 m.
"""

from __future__ import annotations

import torch

from e2edrive.model.far_traffic import FAR_GAPS, far_targets


def far_read_counts(model, dataset, device="cpu", batch_size: int = 16, max_frames: int = 4000) -> dict:
    """{f"{d:g}": {"positives", "hits", "negatives", "false_alarms"}} over the dataset's frames with a
    known gap (at most max_frames of all frames, evenly spread). Empty if the model has no head."""
    from e2edrive.eval.held_out import held_out_batches

    if getattr(model, "far", None) is None:
        return {}
    counts = {f"{d:g}": [0, 0, 0, 0] for d in FAR_GAPS}
    for _, clip, out in held_out_batches(model, dataset, device, batch_size, max_frames):
        if clip.labels.oncoming_gap is None:
            continue
        said = torch.sigmoid(out.far_traffic) > 0.5  # (B, K)
        truth, known = far_targets(clip.labels.oncoming_gap)
        truth = truth.bool()
        for k, d in enumerate(FAR_GAPS):
            row = counts[f"{d:g}"]
            pos, neg = truth[:, k] & known, ~truth[:, k] & known
            row[0] += int(pos.sum())
            row[1] += int((pos & said[:, k]).sum())
            row[2] += int(neg.sum())
            row[3] += int((neg & said[:, k]).sum())
    return {d: dict(zip(("positives", "hits", "negatives", "false_alarms"), r)) for d, r in counts.items()}


def far_read_table(counts: dict) -> str:
    """Markdown, one row per threshold: recall on positives and false alarms on negatives."""
    rows = [
        "| oncoming car closer than | frames with one: called | frames without: called |",
        "|---|---|---|",
    ]
    for d, r in counts.items():
        rec = f"{r['hits'] / r['positives']:.0%}" if r["positives"] else "-"
        fa = f"{r['false_alarms'] / r['negatives']:.0%}" if r["negatives"] else "-"
        rows.append(f"| {d} m | {r['positives']}: {rec} | {r['negatives']}: {fa} |")
    return "\n".join(rows)
