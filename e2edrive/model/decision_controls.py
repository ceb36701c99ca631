"""Controls conditioned on the decision: one (steer, accel) pair per expert reason, the reason head
choosing which one drives (DrivingConfig.decision_controls).

Why: one regressed pair of controls is trained by an L1 loss over every frame, and on the frames
where the expert decides (brake for the spinning car, slow to 4 m/s over the puddle, stop at the
red light) most similar-looking frames say "keep going": the imitator learns a compromise, too
gentle and too late (BENCHMARKS.md, session 5's shadow traces: the puddle named right, crossed at
6-10 m/s). Multi-modal planners avoid that averaging by regressing one output per mode and
classifying the mode (MultiPath, Chai et al. 2019; VAD's per-command ego queries, Jiang et al.
2023): here the modes are the expert's reasons (core.reasons.Reason), which the network already
classifies. In training only the expert's reason's pair is regressed (winner-takes-all with the
label as the winner); the reason head's cross-entropy trains the choice. At inference the most
likely reason's pair drives: a decision taken is taken whole, not averaged with the others.
"""

from __future__ import annotations

import torch


def pick(modes: torch.Tensor, reason: torch.Tensor) -> torch.Tensor:
    """modes (B, R, 2) controls per reason, reason (B,) int -> (B, 2) the controls of each row's reason."""
    idx = reason.long().clamp(0, modes.shape[1] - 1).view(-1, 1, 1).expand(-1, 1, modes.shape[2])
    return modes.gather(1, idx).squeeze(1)


def chosen(modes: torch.Tensor, reason_logits: torch.Tensor) -> torch.Tensor:
    """modes (B, R, 2), reason_logits (B, R) -> (B, 2): the controls of the most likely reason."""
    return pick(modes, reason_logits.argmax(-1))
