"""Does the network see the light's colour? The traffic-light head against its label, per state.

The head's overall accuracy hides what matters: most frames have no light (NONE) and most frames
with one are spent waiting at red, so a head that says "red" whenever it sees a light scores well
and still gives the planner nothing to decide with. This module counts the confusion matrix
(label state x called state, the argmax of the head) and reports each state's recall.
"""

from __future__ import annotations

import torch

from e2edrive.core.constants import LightState

STATES = tuple(s.name.lower() for s in LightState)  # in LightState order: none, red, yellow, green


def light_confusion(
    model, dataset, device="cpu", batch_size: int = 16, max_frames: int = 4000
) -> list[list[int]]:
    """(S, S) counts, row = labelled state, column = the head's argmax, over at most max_frames of
    the dataset's frames, evenly spread."""
    from e2edrive.eval.held_out import held_out_batches

    S = len(STATES)
    counts = torch.zeros(S, S, dtype=torch.long)
    for _, clip, out in held_out_batches(model, dataset, device, batch_size, max_frames):
        said = out.traffic_light.argmax(-1).cpu()  # (B,)
        truth = clip.labels.traffic_light.long().cpu()  # (B,)
        counts += torch.bincount(truth * S + said, minlength=S * S).view(S, S)
    return counts.tolist()


def light_recall(confusion: list[list[int]]) -> dict[str, float | None]:
    """{state: share of its frames the head called right} (None: no frame of that state)."""
    return {s: (row[i] / sum(row) if sum(row) else None) for i, (s, row) in enumerate(zip(STATES, confusion))}


def light_table(confusion: list[list[int]]) -> str:
    """Markdown: one row per labelled state, the head's calls across, the recall last."""
    rows = ["| light (label) | " + " | ".join(f"called {s}" for s in STATES) + " | recall |"]
    rows.append("|---" * (len(STATES) + 2) + "|")
    for (s, rec), row in zip(light_recall(confusion).items(), confusion):
        cell = f"{rec:.0%}" if rec is not None else "-"
        rows.append(f"| {s} ({sum(row)}) | " + " | ".join(str(c) for c in row) + f" | {cell} |")
    return "\n".join(rows)
