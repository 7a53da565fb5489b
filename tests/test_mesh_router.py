"""Router and mesh under Amaranth pysim: config validation, routing function, random traffic with
backpressure on small meshes (delivery exactly once, in order per flow, contents bit for bit)."""
import pytest
from spikemesh.rtl.mesh import Direction, Mesh, MeshConfig, Router
from spikemesh.rtl.mesh.router import DROP, xy_route
from spikemesh.sim.benches.mesh_pysim import run_pysim
from spikemesh.sim.benches.mesh_traffic import QueueSource, RandomTraffic, build_packet


@pytest.mark.parametrize("kwargs, msg", [
    ({"rows": 0}, "rows must be an int in 1..4"),
    ({"rows": 5}, "rows must be an int in 1..4"),
    ({"cols": 6}, "cols must be an int in 1..5"),
    ({"flit_width": 21}, "flit_width must be an int in 22..256"),
    ({"depth": 1}, "depth must be an int in 2..64"),
    ({"depth": 2.0}, "depth must be an int"),
])
def test_bad_config_refused(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        MeshConfig(**kwargs)


def test_bad_router_position_refused():
    with pytest.raises(ValueError, match="x must be an int in 0..1"):
        Router(MeshConfig(rows=2, cols=2), 2, 0)


def test_xy_route_reference():
    cfg = MeshConfig(rows=3, cols=4)
    assert xy_route(cfg, 1, 1, 3, 0) == Direction.EAST      # x first ...
    assert xy_route(cfg, 3, 1, 3, 0) == Direction.NORTH     # ... then y
    assert xy_route(cfg, 1, 1, 0, 2) == Direction.WEST
    assert xy_route(cfg, 0, 1, 0, 2) == Direction.SOUTH
    assert xy_route(cfg, 2, 2, 2, 2) == Direction.LOCAL
    assert xy_route(cfg, 0, 0, 4, 0) == DROP


def run_mesh_pysim(cfg: MeshConfig, streams, cycles_max: int, stall_in=True, stall_out=True):
    """Every node injects its packets (Bernoulli-gated when stall_in), sinks stall in cycle patterns."""
    sources = [QueueSource(q, 0.6 if stall_in else 1.0, seed=i) for i, q in enumerate(streams)]
    sb, stats = run_pysim(cfg, sources, stall_out=stall_out, max_cycles=cycles_max)
    sb.stats = stats
    return sb


@pytest.mark.parametrize("rows, cols, depth", [(1, 1, 2), (2, 2, 4), (2, 3, 2)])
def test_random_traffic_backpressure(rows, cols, depth):
    cfg = MeshConfig(rows=rows, cols=cols, depth=depth)
    streams = RandomTraffic(cfg, packets_per_node=40, max_len=3, seed=rows * 10 + cols).streams()
    sb = run_mesh_pysim(cfg, streams, cycles_max=4000)
    sb.assert_done()
    assert sb.delivered == 40 * cfg.n_nodes


def test_off_mesh_destination_dropped_not_stalled():
    cfg = MeshConfig(rows=2, cols=2)
    good = build_packet(cfg, 0, 3, 0, 0, [0x1234])
    bad = build_packet(cfg, 0, 3, 0, 1, [7, 8])
    bad[0] &= ~0b111
    bad[0] |= 6  # dst_x = 6: outside the 2-column mesh
    after = build_packet(cfg, 0, 3, 0, 1, [])
    sb = run_mesh_pysim(cfg, [[good, bad, after], [], [], []], cycles_max=300)
    assert sb.delivered == 2 and sb.stats["dropped"] == 3  # the 3 flits of `bad`, nothing else
    left = {flow: list(q) for flow, q in sb.expected.items() if q}
    assert left == {(0, cfg.node(6, 1)): [bad]}


def test_round_robin_shares_a_contended_output():
    """1x3 mesh, nodes 0 and 1 both flood node 2 with single-flit packets: router 1's east output must
    alternate between its west input and its local input (round robin), and the zero-load path works."""
    cfg = MeshConfig(rows=1, cols=3, depth=2)
    streams = [[build_packet(cfg, s, 2, 0, k, []) for k in range(30)] for s in (0, 1)] + [[]]
    sb = run_mesh_pysim(cfg, streams, cycles_max=400, stall_in=False, stall_out=False)
    sb.assert_done()
    srcs = [src for src, _, _ in sb.log[4:44]]  # steady state
    assert srcs.count(0) == srcs.count(1) == 20
    assert all(a != b for a, b in zip(srcs, srcs[1:])), f"not alternating: {srcs}"
