"""`DrivingOutput`: what every driving network returns, typed. Heads a network does not have
(a baseline) are None, and the loss skips them."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DrivingOutput:
    """Outputs for the last frame of the input, batched over B.

    action:          (B, 2) [steer rad, accel m/s^2]
    plan:            (B, PLAN_STEPS, 3) future ego poses (x, y, yaw), ego frame
    speed:           (B,) m/s target speed
    occupancy:       (B, nz, X, Y) logits, on the model's BEV grid (labels are pooled to it)
    flow:            (B, 2, X, Y) m/s
    obj_heatmap:     (B, NUM_OBJECT_CLASSES, X, Y) logits of object centres per class
    obj_box:         (B, 8, X, Y) box regression per cell: dx, dy, z, log l, log w, log h, sin yaw, cos yaw
    obj_velocity:    (B, 2, X, Y) m/s
    lanes:           (B, 2, X, Y) logits: lane lines, road edges
    drivable:        (B, X, Y) logits
    traffic_light:   (B, 4) logits over LightState
    depth:           (B, N_cam, h, w) metres, at the encoder's feature resolution
    reason:          (B, NUM_REASONS) logits
    sentence:        (B, MAX_SENTENCE_TOKENS - 1, len(VOCAB)) next-token logits (teacher forced in
                     training; greedy-decoded by `explain`)
    reason_context:  (B, D) the sentence decoder's conditioning vector, so that the loss can run the
                     teacher-forced decoder on the target sentence (None for networks without it)
    far_traffic:     (B, len(model.far_traffic.FAR_GAPS)) logits of P(oncoming gap < d)
    semantics:       (B, N_cam, NUM_SEMANTIC_CLASSES, h, w) logits: class present in the feature
                     cell (model.semantic_head)
    ego_accel:       (B,) m/s^2 the ego's observed acceleration at the last frame (the previous
                     control the planner read), for the loss's keyframe weight; None: not read
    """

    action: torch.Tensor
    plan: torch.Tensor
    speed: torch.Tensor
    occupancy: torch.Tensor | None = None
    flow: torch.Tensor | None = None
    obj_heatmap: torch.Tensor | None = None
    obj_box: torch.Tensor | None = None
    obj_velocity: torch.Tensor | None = None
    lanes: torch.Tensor | None = None
    drivable: torch.Tensor | None = None
    traffic_light: torch.Tensor | None = None
    depth: torch.Tensor | None = None
    reason: torch.Tensor | None = None
    sentence: torch.Tensor | None = None
    reason_context: torch.Tensor | None = None
    far_traffic: torch.Tensor | None = None
    semantics: torch.Tensor | None = None
    ego_accel: torch.Tensor | None = None

    def reason_texts(self) -> list[str] | None:
        """The reason head's most likely sentence per environment (one host transfer), or None when
        the network has no reason head."""
        if self.reason is None:
            return None
        from e2edrive.core.reasons import REASON_TEXT, Reason

        return [REASON_TEXT[Reason(int(i))] for i in self.reason.argmax(-1).tolist()]
