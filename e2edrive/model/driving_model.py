"""DrivingModel: 8 cameras in, steering and acceleration out, with HydraNet auxiliary heads.

    images (B, T, N, 3, H, W) uint8
      -> RegNet-Y encoder, shared by cameras            (B*T*N, C, h, w)     regnet.py
      -> BEV spatial cross-attention with the rig       (B*T, C, X, Y)       bev.py
      -> ConvGRU over time, memory warped by odometry   (B, C, X, Y)         temporal.py
      -> heads: occupancy, flow, objects, lanes, drivable, light, depth      heads.py
      -> planner: plan queries + nav goal + ego status  plan, speed, action  planner.py
      -> reason: decision class + sentence              reason.py

Only the last frame is decoded (DrivingOutput is for the labelled frame); the earlier frames of a
clip only feed the temporal memory. `act` runs the same per-frame step with the memory carried in
`state = (h,)`, so streaming and clip inference agree (test_model_streaming).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from e2edrive.core.reasons import PAD, WORD_TO_ID
from e2edrive.core.rig import CameraRig
from e2edrive.core.types import Action, Labels, Observation
from e2edrive.model.base import DrivingPolicy, driving_loss
from e2edrive.model.bev import BevTransform
from e2edrive.model.config import DrivingConfig, make_config
from e2edrive.model.corridor import CORRIDOR_FEATURES, corridor_features, teacher_maps
from e2edrive.model.far_traffic import FAR_FEATURES, FarTrafficHead, far_traffic_loss
from e2edrive.model.head_losses import centernet_focal, masked_l1, sigmoid_focal
from e2edrive.model.heads import NUM_LIGHT_STATES, BevHeads, DepthHead, TrafficLightHead
from e2edrive.model.light_eye import LightEye
from e2edrive.model.output import DrivingOutput
from e2edrive.model.planner import EGO_NAMES, NAV_FEATURES, Planner, nav_ego_features, route_points_of
from e2edrive.model.reason import ReasonHead, explain, sentence_table
from e2edrive.model.regnet import RegNetEncoder, RegNetSpec, load_torchvision_weights
from e2edrive.model.semantic_head import SemanticHead, semantic_loss, semantic_presence
from e2edrive.model.targets import make_targets
from e2edrive.model.temporal import TemporalFusion
from e2edrive.model.validate import check_observation

log = logging.getLogger(__name__)


class DrivingModel(DrivingPolicy):
    name = "driving"
    config_class = DrivingConfig

    def __init__(self, config: DrivingConfig | None = None):
        super().__init__()
        cfg = config if config is not None else make_config("tiny")
        self.config = cfg
        rig, grid, C = cfg.rig, cfg.bev_grid, cfg.channels
        self.encoder = RegNetEncoder(RegNetSpec(cfg.stem_width, cfg.widths, cfg.depths, cfg.group_width), C)
        s = self.encoder.stride
        if rig.height % (2 * s) or rig.width % (2 * s):
            raise ValueError(
                f"image size {rig.height}x{rig.width} must be a multiple of the encoder's deepest "
                f"stride {2 * s} (widths {cfg.widths})"
            )
        self.feat_hw = (rig.height // s, rig.width // s)
        self.bev = BevTransform(
            rig,
            grid,
            cfg.bev_heights,
            C,
            cfg.bev_layers,
            cfg.bev_heads,
            cfg.bev_points,
            cfg.bev_convs,
            self.feat_hw,
        )
        self.temporal = TemporalFusion(C, grid)
        self.heads = BevHeads(C, grid.nz)
        self.depth = DepthHead(C)
        self.light = TrafficLightHead(C, rig.num_cameras)
        self.occ_embed = nn.Conv2d(grid.nz, C, 1)  # predicted occupancy joins the planner's memory
        self.planner = Planner(
            C,
            cfg.planner_queries,
            cfg.planner_layers,
            cfg.bev_heads,
            cfg.ego_inputs,
            (grid.nx, grid.ny),
            cfg.planner_summary,
            (NUM_LIGHT_STATES if cfg.planner_light else 0)
            + (CORRIDOR_FEATURES if cfg.planner_corridor else 0)
            + (FAR_FEATURES if cfg.planner_far else 0),
            bool(cfg.planner_cameras),
        )
        self.camera_read = None
        if cfg.planner_cameras:
            self.register_buffer(
                "read_cameras",
                torch.tensor([rig.names.index(n) for n in cfg.planner_cameras]),
                persistent=False,
            )
            h, w = self.feat_hw
            self.camera_read = nn.Sequential(
                nn.Conv2d(C, 8, 1),
                nn.ReLU(inplace=True),
                nn.Flatten(),
                nn.Linear(8 * h * w, C),
            )
        self.far = FarTrafficHead(C) if cfg.planner_far else None
        self.reason = ReasonHead(C, cfg.reason_hidden)
        self.register_buffer("sentences", sentence_table(), persistent=False)  # (NUM_REASONS, L)
        # built last: its random init leaves every other module's (and the golden outputs) as before
        self.light_eye = None
        if cfg.light_eye:
            self.register_buffer(
                "eye_cameras", torch.tensor([rig.names.index(n) for n in cfg.light_eye]), persistent=False
            )
            self.light_eye = LightEye(len(cfg.light_eye), cfg.light_eye_width)
        self.semantic = SemanticHead(C) if cfg.semantic_head else None  # after the eye, for the same reason
        self.validate_inputs = True  # checks sync with the host once per call; benchmarks may turn them off
        self._rig_checked: CameraRig | None = None  # last obs.rig found equal to config.rig
        if cfg.pretrained:
            keys = load_torchvision_weights(self.encoder, cfg.pretrained)
            log.info("loaded %d torchvision RegNet tensors from %s", len(keys), cfg.pretrained)
        else:
            log.info(
                "no pretrained RegNet weights given (config.pretrained=None): encoder starts from scratch"
            )

    # ---- per-frame compute (tensors only, no data-dependent Python control flow) ----

    def encode_frames(
        self, images: torch.Tensor, camera_valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """images (M, N, 3, H, W) uint8 or float 0..255, camera_valid (M, N) bool ->
        bev (M, C, X, Y), camera features (M, N, C, h, w)."""
        M, N = images.shape[:2]
        feats = self.encoder(images.flatten(0, 1).float() / 255.0)  # (M*N, C, h, w)
        feats = feats.view(M, N, *feats.shape[1:])
        return self.bev(feats, camera_valid), feats

    def eye_logits(self, images: torch.Tensor, camera_valid: torch.Tensor) -> torch.Tensor:
        """The light eye's logits (B, NUM_LIGHT_STATES) from one frame's images (B, N, 3, H, W) and
        camera_valid (B, N) bool: what decode adds to the light head's."""
        eye = images.index_select(1, self.eye_cameras)  # (B, K, 3, H, W)
        return self.light_eye(eye, camera_valid.index_select(1, self.eye_cameras))

    def decode(
        self,
        fused: torch.Tensor,
        feats: torch.Tensor,
        camera_valid: torch.Tensor,
        nav_ego: torch.Tensor,
        images: torch.Tensor,
        teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> DrivingOutput:
        """fused BEV (B, C, X, Y), last-frame camera features (B, N, C, h, w) and images (B, N, 3, H,
        W) -> every head's output. teacher: ground-truth corridor maps and which samples read them
        (training, model.corridor)."""
        p = self.heads(fused)
        bev_map = fused + self.occ_embed(torch.sigmoid(p.occupancy))  # (B, C, X, Y) with the occupancy
        memory = bev_map.flatten(2).transpose(1, 2)  # (B, Q, C) tokens
        pos = self.bev.pos(self.bev.cell_xy).unsqueeze(0)  # (1, Q, C)
        light = self.light(feats, camera_valid, fused)  # (B, NUM_LIGHT_STATES) logits
        if self.light_eye is not None:
            light = light + self.eye_logits(images, camera_valid)
        reads = [light.softmax(-1)] if self.config.planner_light else []
        if self.config.planner_corridor:
            route = route_points_of(nav_ego)
            reads.append(corridor_features(p.occupancy, p.obj_heatmap, route, self.config.bev_grid, teacher))
        cam = None
        if self.camera_read is not None:
            sel = feats.index_select(1, self.read_cameras)  # (B, K, C, h, w)
            valid = camera_valid.index_select(1, self.read_cameras).to(sel.dtype)  # (B, K)
            K = sel.shape[1]
            cam = self.camera_read(sel.flatten(0, 1)).view(-1, K, sel.shape[2])  # (B, K, C)
            cam = torch.relu((cam * valid.unsqueeze(-1)).sum(1))  # (B, C); a failed camera adds nothing
        far = self.far(cam) if self.far is not None else None  # (B, FAR_FEATURES) logits
        if far is not None:
            reads.append(torch.sigmoid(far))
        extra = torch.cat(reads, -1) if reads else None
        plan, speed, action, context = self.planner(memory, pos, nav_ego, bev_map, extra, cam)
        reason, sentence, reason_ctx = self.reason(context)
        return DrivingOutput(
            action=action,
            plan=plan,
            speed=speed,
            occupancy=p.occupancy,
            flow=p.flow,
            obj_heatmap=p.obj_heatmap,
            obj_box=p.obj_box,
            obj_velocity=p.obj_velocity,
            lanes=p.lanes,
            drivable=p.drivable,
            traffic_light=light,
            depth=self.depth(feats),
            reason=reason,
            sentence=sentence,
            reason_context=reason_ctx,
            far_traffic=far,
            semantics=self.semantic(feats) if self.semantic is not None else None,
        )

    def step(
        self,
        images: torch.Tensor,
        camera_valid: torch.Tensor,
        odom: torch.Tensor,
        first: torch.Tensor,
        nav_ego: torch.Tensor,
        h: torch.Tensor,
    ) -> tuple[DrivingOutput, torch.Tensor]:
        """One streaming step on plain tensors (what an exporter wraps): images (B, N, 3, H, W),
        camera_valid (B, N) bool, odom (B, 3), first (B,) bool, nav_ego (B, F) from
        `planner.nav_ego_features`, memory h (B, C, X, Y) -> (output, new memory)."""
        bev, feats = self.encode_frames(images, camera_valid)
        fused, h = self.temporal.step(bev, h, odom, first)
        return self.decode(fused, feats, camera_valid, nav_ego, images), h

    # ---- DrivingPolicy interface ----

    def forward(self, obs: Observation, labels: Labels | None = None) -> DrivingOutput:
        """obs tensors (B, T, ...), frames oldest first -> outputs for the last frame. labels (the
        last frame's, training only) let config.corridor_teacher's share of samples read the true
        corridor (model.corridor); without them, or in eval mode, every sample reads the heads'."""
        if self.validate_inputs:
            self._check(obs, clip=True)
        B, T = obs.images.shape[:2]
        valid = self._dropout(obs.camera_valid.bool())  # (B, T, N)
        bev, last_feats = self._encode_clip(obs.images, valid)  # (B, T, C, X, Y), (B, N, C, h, w)
        h = self.temporal.init_state(B, self.config.channels, bev.device, bev.dtype)
        for t in range(T):  # T is a shape, not a tensor value
            fused, h = self.temporal.step(bev[:, t], h, obs.odom[:, t], obs.first[:, t])
        nav_ego = self._hide_controls(self._nav_ego(obs, -1))
        teacher = self._teacher(labels, B)
        out = self.decode(fused, last_feats, valid[:, -1], nav_ego, obs.images[:, -1], teacher)
        out.ego_accel = obs.accel[:, -1]  # (B,) the previous control, for the keyframe weight
        return out

    def init_state(self, batch: int, device: torch.device | str) -> tuple[torch.Tensor]:
        return (self.temporal.init_state(batch, self.config.channels, device),)

    def act(
        self, obs: Observation, state: tuple[torch.Tensor] | None = None
    ) -> tuple[Action, tuple[torch.Tensor], DrivingOutput]:
        """One control step: obs tensors (B, ...); state from init_state or the previous act."""
        if self.validate_inputs:
            self._check(obs, clip=False)
        if state is None:
            state = self.init_state(obs.batch_size, obs.images.device)
        out, h = self.step(
            obs.images, obs.camera_valid.bool(), obs.odom, obs.first, self._nav_ego(obs, None), state[0]
        )
        return Action.from_tensor(out.action), (h,), out

    def loss(self, out: DrivingOutput, labels: Labels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted sum of every head's loss (cfg.loss) and the per-task parts (weighted)."""
        w = self.config.loss
        if out.reason_context is None:
            raise ValueError(
                "DrivingOutput.reason_context is None: the loss needs the output of DrivingModel"
            )
        t = make_targets(labels, self.config.bev_grid, self.feat_hw)
        parts = driving_loss(out, labels, w.driving)
        parts["occupancy"] = w.occupancy * sigmoid_focal(out.occupancy, t.occupancy)
        parts["flow"] = w.flow * masked_l1(out.flow, t.flow, t.flow_mask)
        parts["heatmap"] = w.heatmap * centernet_focal(out.obj_heatmap, t.heatmap)
        parts["box"] = w.box * masked_l1(out.obj_box, t.box, t.center_mask)
        parts["velocity"] = w.velocity * masked_l1(out.obj_velocity, t.velocity, t.center_mask)
        parts["lanes"] = w.lanes * F.binary_cross_entropy_with_logits(out.lanes, t.lanes)
        parts["drivable"] = w.drivable * F.binary_cross_entropy_with_logits(out.drivable, t.drivable)
        parts["traffic_light"] = w.traffic_light * F.cross_entropy(
            out.traffic_light, labels.traffic_light.long()
        )
        log_err = (out.depth.clamp(min=1e-3).log() - t.depth.clamp(min=1e-3).log()).unsqueeze(2)
        parts["depth"] = w.depth * masked_l1(log_err, torch.zeros_like(log_err), t.depth_mask.unsqueeze(2))
        if out.far_traffic is not None:
            gap = labels.oncoming_gap  # None: clips recorded without it (synthetic): no target
            gap = gap if gap is not None else torch.full_like(out.speed, float("nan"))
            parts["far_traffic"] = w.far_traffic * far_traffic_loss(out.far_traffic, gap)
        if out.semantics is not None:
            presence = semantic_presence(labels.semantics, self.feat_hw)
            parts["semantics"] = w.semantics * semantic_loss(out.semantics, presence)
        parts["reason"] = w.reason * F.cross_entropy(out.reason, labels.reason.long())
        tokens = self.sentences[labels.reason.long()]  # (B, L)
        logits = self.reason.teacher_forced(out.reason_context, tokens)  # (B, L-1, V)
        parts["sentence"] = w.sentence * F.cross_entropy(
            logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=WORD_TO_ID[PAD]
        )
        return sum(parts.values()), parts

    def explain(self, out: DrivingOutput) -> list[str]:
        """The greedy explanation sentence of each batch element."""
        return explain(out.sentence)

    # ---- helpers ----

    def _check(self, obs: Observation, clip: bool) -> None:
        # The rig comparison copies calibration to the host: do it once per rig object, not per step.
        check_observation(obs, self.config.rig, clip=clip, check_rig=obs.rig is not self._rig_checked)
        self._rig_checked = obs.rig

    def _encode_clip(self, images: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (B, T, N, 3, H, W), valid (B, T, N) -> BEV of every frame (B, T, C, X, Y) and the
        last frame's camera features (B, N, C, h, w). In training without config.history_grad the
        earlier frames are encoded without gradients (truncated back-propagation through time:
        the encoder learns from the labelled frame, the GRU from every step of the clip)."""
        B, T = images.shape[:2]
        if T == 1 or self.config.history_grad or not (self.training and torch.is_grad_enabled()):
            bev, feats = self.encode_frames(images.flatten(0, 1), valid.flatten(0, 1))
            return bev.view(B, T, *bev.shape[1:]), feats.view(B, T, *feats.shape[1:])[:, -1]
        with torch.no_grad():
            past, _ = self.encode_frames(images[:, :-1].flatten(0, 1), valid[:, :-1].flatten(0, 1))
        bev, feats = self.encode_frames(images[:, -1], valid[:, -1])
        return torch.cat([past.view(B, T - 1, *past.shape[1:]), bev.unsqueeze(1)], 1), feats

    def _teacher(self, labels: Labels | None, B: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(true corridor maps (B, 2, X, Y), samples that read them (B,) bool), or None."""
        p = self.config.corridor_teacher
        if labels is None or not self.training or p <= 0:
            return None
        maps = teacher_maps(labels, self.config.bev_grid, self.feat_hw)
        return maps, torch.rand(B, device=maps.device) < p

    def _hide_controls(self, nav_ego: torch.Tensor) -> torch.Tensor:
        """Training only: zero the previous controls (accel, steer) of a control_dropout share of
        the samples. nav_ego (B, NAV_FEATURES + EGO_FEATURES), ego fields in EGO_NAMES order."""
        p = self.config.control_dropout
        if not self.training or p <= 0:
            return nav_ego
        col = torch.zeros(nav_ego.shape[1], dtype=torch.bool, device=nav_ego.device)  # (F,)
        col[[NAV_FEATURES + EGO_NAMES.index(n) for n in ("accel", "steer")]] = True
        hide = torch.rand(nav_ego.shape[0], 1, device=nav_ego.device) < p  # (B, 1)
        return nav_ego.masked_fill(hide & col, 0.0)

    def _dropout(self, valid: torch.Tensor) -> torch.Tensor:
        p = self.config.camera_dropout
        if not self.training or p <= 0:
            return valid
        return valid & (torch.rand(valid.shape, device=valid.device) >= p)

    @staticmethod
    def _nav_ego(obs: Observation, t: int | None) -> torch.Tensor:
        def pick(x: torch.Tensor) -> torch.Tensor:
            return x if t is None else x[:, t]

        return nav_ego_features(
            pick(obs.nav.route_points),
            pick(obs.nav.dist_to_turn),
            pick(obs.nav.turn_command),
            pick(obs.nav.speed_limit),
            pick(obs.ego_status()),
        )


def describe(preset: str | DrivingConfig = "tiny") -> str:
    """One line per module of a DrivingModel built from `preset`, with its parameter count, and
    the total. (It lives beside the model, not in config.py: the config must not import the model
    it configures.)"""
    cfg = make_config(preset) if isinstance(preset, str) else preset
    model = DrivingModel(cfg)
    g = cfg.bev_grid
    lines = [
        f"preset {cfg.preset}: BEV {g.nx}x{g.ny} cells at {g.res} m, {g.nz} voxel layers, "
        f"C={cfg.channels}, images {cfg.rig.num_cameras}x{cfg.rig.height}x{cfg.rig.width}"
    ]
    for name, child in model.named_children():
        n = sum(p.numel() for p in child.parameters())
        lines.append(f"  {name:<12} {n:>12,}")
    total = sum(p.numel() for p in model.parameters())
    lines.append(f"  {'total':<12} {total:>12,}")
    return "\n".join(lines)
