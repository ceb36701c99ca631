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
    from e2edrive.data.dataset import collate_clips

    model = model.eval().to(device)
    n = len(dataset)
    frames = list(range(0, n, max(1, n // max_frames)))
    S = len(STATES)
    counts = torch.zeros(S, S, dtype=torch.long)
    with torch.no_grad():
        for i in range(0, len(frames), batch_size):
            clip = collate_clips([dataset[j] for j in frames[i : i + batch_size]]).to(device)
            said = model(clip.obs).traffic_light.argmax(-1).cpu()  # (B,)
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
    for s, row in zip(STATES, confusion):
        n = sum(row)
        rec = f"{row[STATES.index(s)] / n:.0%}" if n else "-"
        rows.append(f"| {s} ({n}) | " + " | ".join(str(c) for c in row) + f" | {rec} |")
    return "\n".join(rows)
