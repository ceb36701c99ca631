import pytest

from e2edrive.sim.scenarios import SCENARIOS, EpisodeRecord, get_scenario, resolve_scenarios

EXPECTED = [
    "lane_follow",
    "follow_lead",
    "traffic_light",
    "chickens_crossing",
    "geese_standing",
    "puddle",
    "spinout_ahead",
    "cut_in",
    "pedestrian_close",
    "unknown_object",
    "traffic_light_turn",
    "turn_left_unprotected",
    "turn_right_crosswalk",
    "red_light_runner",
    "construction_zone",
    "occluded_pedestrian",
]


def record(**kw) -> EpisodeRecord:
    base = dict(
        collided=False,
        at_fault=False,
        route_done=True,
        route_completion=1.0,
        off_road=False,
        red_light_runs=0,
        min_gap=10.0,
        spin_braked=False,
        spin_impact=False,
        puddle_touched=False,
        puddle_max_speed=0.0,
        chicken_violation=False,
        ped_violation=False,
        steps=100,
    )
    base.update(kw)
    return EpisodeRecord(**base)


def test_catalog_is_the_architecture_table():
    assert list(SCENARIOS) == EXPECTED
    for name, cls in SCENARIOS.items():
        assert cls.name == name and cls.description and cls.tags and cls.seconds > 0


def test_unknown_scenario_lists_the_valid_ones():
    with pytest.raises(KeyError, match="valid scenarios: lane_follow, follow_lead"):
        get_scenario("chicken_crossing")
    assert resolve_scenarios("all") == EXPECTED
    assert resolve_scenarios("cut_in,puddle") == ["cut_in", "puddle"]


@pytest.mark.parametrize("name", EXPECTED)
def test_episode_is_a_pure_function_of_the_seed(name):
    sc = get_scenario(name)
    a, b, c = sc.sample(7), sc.sample(7), sc.sample(8)
    assert (a.road.kappa == b.road.kappa).all() and a.actors == b.actors and a.route_end_s == b.route_end_s
    assert a.actors != c.actors or (a.road.kappa != c.road.kappa).any() or a.route_end_s != c.route_end_s
    assert a.route_length > 50 and a.steps == round(sc.seconds * 10)
    assert len(a.actors) <= 32


def test_scenario_specific_content():
    from e2edrive.core.constants import ObjectClass

    assert sum(a.cls == ObjectClass.CHICKEN for a in get_scenario("chickens_crossing").sample(0).actors) >= 3
    assert all(a.cls == ObjectClass.GOOSE for a in get_scenario("geese_standing").sample(0).actors[:3])
    assert get_scenario("spinout_ahead").sample(0).spin_slot == 0
    assert get_scenario("traffic_light").sample(0).road.intersections
    assert get_scenario("puddle").sample(0).road.puddles
    assert get_scenario("unknown_object").sample(0).actors[0].cls == ObjectClass.UNKNOWN
    assert get_scenario("cut_in").sample(0).actors[0].lc_gap > 0


def test_pass_rules():
    spin, sp = get_scenario("spinout_ahead"), get_scenario("spinout_ahead").sample(0)
    assert spin.passed(sp, record(spin_braked=True))
    assert not spin.passed(sp, record(spin_braked=False))
    assert not spin.passed(sp, record(spin_braked=True, collided=True))
    tl = get_scenario("traffic_light")
    assert not tl.passed(tl.sample(0), record(red_light_runs=1))
    lf = get_scenario("lane_follow")
    assert not lf.passed(lf.sample(0), record(off_road=True))
    pud = get_scenario("puddle")
    quiet = next(pud.sample(s) for s in range(50) if not pud.sample(s).info["busy"])
    busy = next(pud.sample(s) for s in range(50) if pud.sample(s).info["busy"])
    assert not pud.passed(quiet, record(puddle_touched=True, puddle_max_speed=3.0))  # should have avoided it
    assert pud.passed(busy, record(puddle_touched=True, puddle_max_speed=3.0))  # slowly through: fine
    assert not pud.passed(busy, record(puddle_touched=True, puddle_max_speed=9.0))
    ch = get_scenario("chickens_crossing")
    assert not ch.passed(ch.sample(0), record(chicken_violation=True))
    ped = get_scenario("pedestrian_close")
    assert not ped.passed(ped.sample(0), record(ped_violation=True))
    fl = get_scenario("follow_lead")
    assert not fl.passed(fl.sample(0), record(min_gap=1.0))
    geese = get_scenario("geese_standing")
    assert not geese.passed(geese.sample(0), record(route_done=False))  # waited forever
