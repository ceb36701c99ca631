import math

import pytest
import torch

from e2edrive.sim.collision import box_corners, obb_overlap, segment_box_overlap, time_to_collision

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
UNIT = torch.tensor([2.0, 2.0])  # a 2 m x 2 m box: half-extent 1


def P(x, y, yaw=0.0):
    return torch.tensor([x, y, yaw])


def ov(pa, sa, pb, sb, **kw):
    return bool(obb_overlap(pa, sa, pb, sb, **kw))


def test_box_corners_hand_computed():
    c = box_corners(P(1.0, 2.0, math.pi / 2), torch.tensor([4.0, 2.0]))
    # heading +y: front is at y = 4, left is -x
    expected = torch.tensor([[0.0, 4.0], [0.0, 0.0], [2.0, 0.0], [2.0, 4.0]])
    assert torch.allclose(c, expected, atol=1e-6)
    assert box_corners(torch.zeros(5, 7, 3), torch.ones(5, 7, 3)).shape == (5, 7, 4, 2)


def test_touching_edges_overlap_and_1cm_gap_does_not():
    assert ov(P(0, 0), UNIT, P(2.0, 0), UNIT)  # share the edge x = 1
    assert ov(P(0, 0), UNIT, P(2.0, 2.0), UNIT)  # share only the corner (1, 1)
    assert not ov(P(0, 0), UNIT, P(2.01, 0), UNIT)
    assert not ov(P(0, 0), UNIT, P(0.5, 2.01), UNIT)


def test_rotated_45_corner_cases():
    # a unit-half-extent diamond (45 deg) reaches sqrt(2) along x
    r = math.sqrt(2)
    assert ov(P(0, 0), UNIT, P(1 + r - 0.01, 0, math.pi / 4), UNIT)  # its corner pokes 1 cm in
    assert not ov(P(0, 0), UNIT, P(1 + r + 0.01, 0, math.pi / 4), UNIT)  # 1 cm near miss
    # two diamonds face to face along the diagonal, 2 cm apart
    d = P(0, 0, math.pi / 4)
    assert not ov(d, UNIT, P(2.0 + 0.02, 2.0 + 0.02, math.pi / 4), UNIT)
    # the square's axes alone would report overlap here (the diamond spans +-sqrt2 along x and y);
    # only the diamond's own axis (1, 1)/sqrt2 separates them: 1.9 sqrt2 = 2.69 > sqrt2 + 1
    assert not ov(P(1.9, 1.9), UNIT, d, UNIT)
    assert ov(P(1.6, 1.6), UNIT, d, UNIT)  # 2.26 < 2.41: the square's corner (0.6, 0.6) is inside


def test_containment_and_symmetry():
    big, small = torch.tensor([10.0, 6.0]), torch.tensor([1.0, 0.5])
    assert ov(P(0, 0, 0.3), big, P(1.0, -0.5, 2.0), small)
    assert ov(P(1.0, -0.5, 2.0), small, P(0, 0, 0.3), big)
    g = torch.Generator().manual_seed(0)
    pa, pb = torch.rand(500, 3, generator=g) * 6 - 3, torch.rand(500, 3, generator=g) * 6 - 3
    sa, sb = torch.rand(500, 2, generator=g) * 3 + 0.2, torch.rand(500, 2, generator=g) * 3 + 0.2
    assert torch.equal(obb_overlap(pa, sa, pb, sb), obb_overlap(pb, sb, pa, sa))


def test_sat_agrees_with_dense_point_sampling():
    # reference: a box overlaps another iff a dense sample of its area has a point inside the other
    g = torch.Generator().manual_seed(1)
    pa, pb = torch.rand(200, 3, generator=g) * 5 - 2.5, torch.rand(200, 3, generator=g) * 5 - 2.5
    sa, sb = torch.rand(200, 2, generator=g) * 3 + 0.3, torch.rand(200, 2, generator=g) * 3 + 0.3
    u = torch.linspace(-0.5, 0.5, 60)
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)  # (Q, 2)
    local = grid[None] * sa[:, None]  # (200, Q, 2) in a's frame
    c, s = torch.cos(pa[:, 2:3]), torch.sin(pa[:, 2:3])
    world = torch.stack(
        [
            pa[:, :1] + c * local[..., 0] - s * local[..., 1],
            pa[:, 1:2] + s * local[..., 0] + c * local[..., 1],
        ],
        -1,
    )
    rel = world - pb[:, None, :2]
    cb, sb_ = torch.cos(pb[:, 2:3]), torch.sin(pb[:, 2:3])
    bx, by = cb * rel[..., 0] + sb_ * rel[..., 1], -sb_ * rel[..., 0] + cb * rel[..., 1]
    inside = ((bx.abs() <= sb[:, None, 0] / 2) & (by.abs() <= sb[:, None, 1] / 2)).any(-1)
    sat = obb_overlap(pa, sa, pb, sb)
    # sampling can only miss thin overlaps; require agreement except for those rare near-contacts
    assert (sat & ~inside).sum() <= 4
    assert not (inside & ~sat).any()  # a sampled point inside b is a certain overlap


@pytest.mark.parametrize("device", DEVICES)
def test_broadcast_shapes_ego_vs_actors_and_pairs(device):
    B, N = 3, 5
    ego, ego_size = (
        torch.zeros(B, 1, 3, device=device),
        torch.tensor([4.7, 1.9], device=device).expand(B, 1, 2),
    )
    xs = torch.arange(N, dtype=torch.float32, device=device) * 3.0  # actors at x = 0, 3, 6, 9, 12
    actors = torch.stack([xs, torch.zeros_like(xs), torch.zeros_like(xs)], -1).expand(B, N, 3)
    size = torch.tensor([4.0, 2.0, 1.5], device=device).expand(B, N, 3)  # height column is ignored
    hit = obb_overlap(ego, ego_size, actors, size)
    assert hit.shape == (B, N) and hit.device.type == device
    # ego against barriers (B, M, 4): the world's static-collision check
    barriers = torch.tensor([[-10.0, 0.9, 10.0, 0.9], [-10.0, 0.96, 10.0, 0.96]], device=device).expand(
        B, 2, 4
    )
    assert segment_box_overlap(barriers, ego, ego_size).tolist() == [[True, False]] * B
    ttc = time_to_collision(
        ego,
        ego_size,
        torch.tensor([5.0, 0.0], device=device),
        actors,
        size,
        torch.zeros_like(actors[..., :2]),
    )
    # actor 2 at x = 6: gap 6 - 2 - 2.35 = 1.65 m at 5 m/s
    assert ttc.shape == (B, N) and ttc[0, 2].item() == pytest.approx(0.33, rel=1e-5)
    # ego reaches x = 2.35, an actor at x reaches back to x - 2: overlap iff x <= 4.35
    assert hit[0].tolist() == [True, True, False, False, False]
    pair = obb_overlap(actors[:, :, None], size[:, :, None], actors[:, None], size[:, None])
    assert pair.shape == (B, N, N)
    assert pair[0].diagonal().all() and pair[0, 0, 1] and not pair[0, 0, 2]
    assert torch.equal(pair, pair.transpose(1, 2))


def test_margin_inflates():
    assert not ov(P(0, 0), UNIT, P(2.5, 0), UNIT)
    assert ov(P(0, 0), UNIT, P(2.5, 0), UNIT, margin=0.25)


def test_segment_box_overlap():
    size = torch.tensor([4.0, 2.0])  # half extents (2, 1)
    box = P(0, 0)
    seg = torch.tensor(
        [
            [-5.0, 1.0, 5.0, 1.0],  # along the left edge: touches
            [-5.0, 1.01, 5.0, 1.01],  # 1 cm clear
            [3.0, -3.0, -3.0, 3.0],  # diagonal through the centre
            [0.5, 0.2, 0.7, -0.1],  # wholly inside
            [2.0 + 0.02, 0.0, 4.0, 1.5],  # ends 2 cm before the front face
            [1.5, 2.5, 3.5, 0.5],  # passes the front-left corner (2, 1) at distance 0.71
            [2.5, 1.5, 2.5, 1.5],  # a point outside
            [1.0, 0.5, 1.0, 0.5],  # a point inside
        ]
    )
    got = segment_box_overlap(seg, box.expand(8, 3), size.expand(8, 2))
    assert got.tolist() == [True, False, True, True, False, False, False, True]
    # rotated box heading +y spans x in [-1, 1], y in [-2, 2]
    assert bool(segment_box_overlap(torch.tensor([0.0, 1.9, 0.0, 5.0]), P(0, 0, math.pi / 2), size))
    assert not bool(segment_box_overlap(torch.tensor([0.0, 2.1, 0.0, 5.0]), P(0, 0, math.pi / 2), size))
    assert not bool(segment_box_overlap(torch.tensor([1.05, -5.0, 1.05, 5.0]), P(0, 0, math.pi / 2), size))


def test_ttc_head_on_and_following():
    size = torch.tensor([4.0, 2.0])
    # closing at 20 m/s with 30 m between centres, 4 m of box between: gap 26 m -> 1.3 s
    t = time_to_collision(
        P(0, 0), size, torch.tensor([10.0, 0]), P(30, 0, math.pi), size, torch.tensor([-10.0, 0])
    )
    assert t.item() == pytest.approx(1.3, rel=1e-5)
    # follower 3 m/s faster, 10 m gap between bumpers
    t = time_to_collision(P(0, 0), size, torch.tensor([13.0, 0]), P(14, 0), size, torch.tensor([10.0, 0]))
    assert t.item() == pytest.approx(10 / 3, rel=1e-5)
    # same but beyond the horizon
    assert math.isinf(
        time_to_collision(
            P(0, 0), size, torch.tensor([13.0, 0]), P(14, 0), size, torch.tensor([10.0, 0]), horizon=3.0
        ).item()
    )
    # parallel lanes never touch (3.5 m apart, 2 m wide), however fast
    assert math.isinf(
        time_to_collision(P(0, 0), size, torch.tensor([30.0, 0]), P(20, 3.5), size, torch.zeros(2)).item()
    )
    # already overlapping: 0
    assert time_to_collision(P(0, 0), size, torch.zeros(2), P(1, 0), size, torch.zeros(2)).item() == 0.0


def test_ttc_crossing_does_not_tunnel_and_matches_sampling():
    # a 0.4 m chicken crossing at 2 m/s in front of a car at 30 m/s: exact interval logic
    car, chicken = torch.tensor([4.7, 1.9]), torch.tensor([0.4, 0.4])
    t = time_to_collision(
        P(0, 0), car, torch.tensor([30.0, 0]), P(32.35, -3.0, math.pi / 2), chicken, torch.tensor([0.0, 2.0])
    )
    # front bumper at x = 2.35 + 30 t meets the chicken's back at 32.15 -> t = 0.99333 s;
    # the chicken then spans y in [-3 + 2t - 0.2, -3 + 2t + 0.2] = [-1.21, -0.81]: inside the car's
    # half-width 0.95 -> they touch at t = 0.99333
    assert t.item() == pytest.approx(29.8 / 30, rel=1e-5)
    # batched, with a fine sampling reference
    g = torch.Generator().manual_seed(2)
    n = 64
    pa = torch.cat([torch.rand(n, 2, generator=g) * 20 - 10, torch.rand(n, 1, generator=g) * 6], -1)
    pb = torch.cat([torch.rand(n, 2, generator=g) * 20 - 10, torch.rand(n, 1, generator=g) * 6], -1)
    va, vb = torch.randn(n, 2, generator=g) * 5, torch.randn(n, 2, generator=g) * 5
    sa, sb = torch.tensor([4.0, 2.0]).expand(n, 2), torch.tensor([2.0, 1.0]).expand(n, 2)
    ttc = time_to_collision(pa, sa, va, pb, sb, vb, horizon=4.0)
    ts = torch.arange(0, 4.0 + 1e-9, 0.001)  # (K,)
    pa_t = pa[:, None].clone().repeat(1, len(ts), 1)
    pb_t = pb[:, None].clone().repeat(1, len(ts), 1)
    pa_t[..., :2] += va[:, None] * ts[None, :, None]
    pb_t[..., :2] += vb[:, None] * ts[None, :, None]
    hit = obb_overlap(pa_t, sa[:, None], pb_t, sb[:, None])  # (n, K)
    first = torch.where(hit.any(-1), ts[hit.float().argmax(-1)], torch.full((n,), math.inf))
    assert torch.isinf(first).sum() > 5 and torch.isfinite(first).sum() > 5  # both cases present
    assert torch.equal(torch.isinf(first), torch.isinf(ttc))
    fin = torch.isfinite(first)
    assert (first[fin] - ttc[fin]).abs().max() <= 0.0011


def test_bad_size_raises():
    with pytest.raises(ValueError, match="length, width"):
        obb_overlap(P(0, 0), torch.tensor([1.0]), P(0, 0), UNIT)
