"""LIBERO scripted experts for the unseen long-horizon libero_10 tasks T5 and T6 (200-step horizon).

Both tasks chain two manipulations, so the experts move at the controller's per-axis limit, aim
each phase at its final point, and keep hand and load over the walls of one container (basket,
drawer) with a height guard computed from the collision boxes instead of fixed waypoints.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from roboact.control.rotations import orientation_error, rotate_quat_world
from roboact.sim_workers.expert_base import Phase, Vec, _up
from roboact.sim_workers.experts_libero import LiberoExpert

HAND_GEOMS = (
    "gripper0_hand_collision",
    "gripper0_finger1_collision",
    "gripper0_finger2_collision",
    "gripper0_finger1_pad_collision",
    "gripper0_finger2_pad_collision",
)


def _finger_gap(e: LiberoExpert) -> float:
    """Distance between the two finger joints' slides (m): ~0.08 fully open, ~0 closed empty."""
    return e.joint("gripper0_finger_joint1") - e.joint("gripper0_finger_joint2")


def _settled(e: LiberoExpert) -> bool:
    """The fingers stopped moving: they closed on the object."""
    gap = _finger_gap(e)
    prev = e.mem.get("gap", np.inf)
    e.mem["gap"] = gap
    return abs(gap - prev) < 5e-4


def near(e: LiberoExpert, point: Vec, tol: float) -> bool:
    """The grip site is within ``tol`` of ``point`` (exit test when the steered target differs)."""
    return bool(np.linalg.norm(point - e.eef_pos()) < tol)


class Container(NamedTuple):
    """An open-topped container's walls, relative to its body origin (world axes, no rotation)."""

    body: str
    out_lo: Vec  # xy of the walls' outer faces
    out_hi: Vec
    in_lo: Vec  # xy of the walls' inner faces
    in_hi: Vec
    top: float  # z of the highest wall top
    floor: float  # z of the floor's top


class FastLiberoExpert(LiberoExpert):
    """OSC_POSE expert that moves at the controller's per-axis limit and plans around one container.

    OSC_POSE clips each position component to +-0.05 m separately, and the arm's speed follows the
    commanded offset (about 1.3 cm/step per saturated axis). Capping the command's largest
    component instead of its length keeps the straight-line direction but lets diagonal moves run
    up to sqrt(3) times faster, which the 200-step horizons of the two-stage tasks need.
    """

    kp = 2.0  # halves the steady-state offset OSC leaves near a target (gravity, finger mass)
    speed_norm = np.inf  # cap the largest axis of the command, not its length

    def centring_distance(self, point: Vec, q: Vec) -> float:
        """How far the fingers are from closing on ``point``: the horizontal offset, or the yaw
        still to turn to ``q`` (1 rad counts as 5 cm), whichever is larger. Reach funnels sink
        the hand as this shrinks."""
        yaw_err = float(np.linalg.norm(orientation_error(q, self.eef_quat())))
        return max(float(np.linalg.norm((point - self.eef_pos())[:2])), 0.05 * yaw_err)

    def arrived_to_grasp(self, point: Vec) -> bool:
        """Exit test of a reach: at ``point``; also primes ``_settled`` for the grasp that follows."""
        self.mem["gap"] = np.inf  # _settled compares with the previous step's gap
        return near(self, point, 0.008)

    # collision boxes -----------------------------------------------------------------------------
    def geom_ids(self, body_prefix: str) -> list[int]:
        """Colliding geoms of the bodies whose names start with ``body_prefix``."""
        m = self.sim.model
        mm = m._model
        return [
            g
            for g in range(m.ngeom)
            if (m.body_id2name(int(mm.geom_bodyid[g])) or "").startswith(body_prefix)
            and (mm.geom_contype[g] or mm.geom_conaffinity[g])
        ]

    def aabb(self, geoms: list[int]) -> tuple[Vec, Vec]:
        """World axis-aligned box around the geoms (mesh vertices, or box corners)."""
        m, d = self.sim.model, self.sim.data
        mm = m._model
        pts = []
        for g in geoms:
            rot = d.geom_xmat[g].reshape(3, 3)
            if mm.geom_type[g] == 7:  # mesh
                a, n = mm.mesh_vertadr[mm.geom_dataid[g]], mm.mesh_vertnum[mm.geom_dataid[g]]
                pts.append(mm.mesh_vert[a : a + n] @ rot.T + d.geom_xpos[g])
            else:
                half = np.abs(rot) @ m.geom_size[g]
                pts.append(np.stack([d.geom_xpos[g] - half, d.geom_xpos[g] + half]))
        allp = np.concatenate(pts)
        return allp.min(0), allp.max(0)

    # one open-topped container (basket, drawer) that hand and load must pass over ---------------
    margin = 0.012  # m: clearance kept above the container's walls

    def measure_container(self, body: str) -> None:
        """Walls, inside and floor of ``body`` from its collision boxes, relative to its origin.

        Walls are the geoms reaching within 1 cm of the highest top; the inside runs between the
        inner faces of the walls on each side; the floor is the widest geom's top.
        """
        m, d = self.sim.model, self.sim.data
        origin = self.body(body)
        boxes = []
        for g in self.geom_ids(body):
            half = np.abs(d.geom_xmat[g].reshape(3, 3)) @ m.geom_size[g]
            boxes.append((d.geom_xpos[g] - half - origin, d.geom_xpos[g] + half - origin))
        top = max(hi[2] for _, hi in boxes)
        walls = [(lo, hi) for lo, hi in boxes if hi[2] > top - 0.01]
        out_lo = np.min([lo for lo, _ in walls], axis=0)
        out_hi = np.max([hi for _, hi in walls], axis=0)
        centre = (out_lo + out_hi) / 2
        in_lo, in_hi = out_lo[:2].copy(), out_hi[:2].copy()
        for lo, hi in walls:
            size = hi - lo
            ax = int(np.argmin(size[:2]))  # a wall is thin across the side it closes
            if (lo[ax] + hi[ax]) / 2 < centre[ax]:
                in_lo[ax] = max(in_lo[ax], hi[ax])
            else:
                in_hi[ax] = min(in_hi[ax], lo[ax])
        floor = max(boxes, key=lambda b: float(np.prod((b[1] - b[0])[:2])))
        self.box = Container(body, out_lo[:2], out_hi[:2], in_lo, in_hi, float(top), float(floor[1][2]))
        self.hand_geoms = [self.sim.model.geom_name2id(n) for n in HAND_GEOMS]

    def min_z(self, xy: Vec, carried: list[int] | None) -> float:
        """Lowest grip-site height at ``xy`` that keeps hand (and load) clear of the container walls."""
        b, c = self.body(self.box.body), self.box
        # a small side margin: the cheese may stand with the palm's edge 1 cm from the basket
        out_lo, out_hi = b[:2] + c.out_lo - 0.004, b[:2] + c.out_hi + 0.004
        in_lo, in_hi = b[:2] + c.in_lo, b[:2] + c.in_hi
        rim = b[2] + c.top + self.margin
        site = self.eef_pos()
        # the palm is wider than the container's inside; the fingers and the load may go in
        groups = [self.hand_geoms[:1], self.hand_geoms[1:]] + ([carried] if carried else [])
        need = -np.inf
        for geoms in groups:
            lo, hi = self.aabb(geoms)
            lo, hi = lo - site, hi - site
            f_lo, f_hi = xy + lo[:2], xy + hi[:2]
            if np.any(f_hi < out_lo) or np.any(f_lo > out_hi):
                continue  # clear of the container
            if np.all(f_lo > in_lo) and np.all(f_hi < in_hi):
                continue  # wholly inside the walls
            need = max(need, rim - lo[2])
        return float(need)

    def guard(self, target: Vec, carried: list[int] | None) -> Vec:
        """``target`` lifted over the container's walls; rise in place first if the next steps cross them."""
        p = self.eef_pos()
        step = (target - p)[:2]
        n = np.linalg.norm(step)
        ahead = p[:2] + (step / n * min(n, 0.04) if n > 1e-9 else 0.0)
        z_here, z_ahead = self.min_z(p[:2], carried), self.min_z(ahead, carried)
        if p[2] < z_ahead - 0.005:
            return np.array([p[0], p[1], max(target[2], z_ahead + 0.01)])  # too low to go on: climb
        return np.array([target[0], target[1], max(target[2], z_here, z_ahead)])


class SoupAndCheeseInBasket(FastLiberoExpert):
    """T5 (libero_10): alphabet soup then cream cheese into the basket (120-140 steps).

    The arm's top speed (1.3 cm/step per axis) leaves about 60 steps of slack in 200 for two
    pick-and-places, so every move is one phase aimed at its final point: the hand hovers over the
    object and sinks as it centres (no stop above), the carry climbs only as high as the basket's rim
    asks, the soup is dropped from just above the rim and the cream cheese only needs to be inside
    the basket's region (LIBERO's ``In`` is a point-in-box test on the body), so it is held there.
    A height guard keeps the 20 cm wide palm, the fingers and the carried object above the rim
    wherever their footprints overlap the basket's walls.
    """

    basket = "basket_1_main"
    # body, grip height above the body origin, hover above the grasp point while centring, slot in
    # the basket (x, y from its centre), release height of the grip site above the rim, free yaw
    # (a can may be gripped from any side: the fingers turn away from its nearest neighbour)
    objects = (
        # the palm sits 2.9 cm above the grip site: the 7.6 cm can is gripped above its centre
        ("alphabet_soup_1_main", 0.015, 0.07, (0.0, -0.03), 0.075, True),
        # held with its body 1.4 cm under the region's top: the palm then just clears the rim
        ("cream_cheese_1_main", 0.005, 0.03, (0.0, 0.0), -0.014, False),
    )

    def plan(self) -> list[Phase]:
        self.obj_geoms = {o[0]: self.geom_ids(o[0]) for o in self.objects}
        self.measure_container(self.basket)
        phases = [ph for spec in self.objects for ph in self._pick_place(*spec)]
        phases.append(Phase("hold", lambda e: e.mem["entry"], -1, max_steps=10**6))
        return phases

    def _pick_place(
        self, obj: str, dz: float, hover: float, slot: tuple[float, float], drop_dz: float, free_yaw: bool
    ) -> list[Phase]:
        tag = obj.split("_1_")[0]
        q = self.turned_from_neighbour(obj) if free_yaw else self.q0
        rot = lambda e: q  # noqa: E731

        def grasp(e: FastLiberoExpert) -> Vec:
            return e.body(obj) + _up(dz) + e.mem.get(f"{tag}_shift", np.zeros(3))

        def clear_of_walls(e: FastLiberoExpert) -> None:
            # an object standing against the basket puts the palm's edge over its wall, and the
            # guard then holds the hand above the object (init state 44): slide the grasp point
            # along the object's long side until the palm clears the wall. Once, when the hand
            # has turned to its grasp yaw, since the palm's footprint depends on it.
            key = f"{tag}_shift"
            if key in e.mem or np.linalg.norm(orientation_error(q, e.eef_quat())) > 0.05:
                return
            lo, hi = e.aabb(e.obj_geoms[obj])
            axis = np.zeros(3)
            axis[int(np.argmax((hi - lo)[:2]))] = 1.0
            reach = 0.25 * float(np.max((hi - lo)[:2]))  # stay within the middle half of that side
            base = e.body(obj) + _up(dz)
            for s in np.arange(0.0, reach + 1e-9, 0.0025):
                for shift in (axis * s, -axis * s):
                    if e.min_z((base + shift)[:2], None) < base[2]:
                        e.mem[key] = shift
                        return
            e.mem[key] = np.zeros(3)

        def drop(e: FastLiberoExpert) -> Vec:
            b = e.body(e.basket)
            return np.array([b[0] + slot[0], b[1] + slot[1], b[2] + e.box.top + drop_dz])

        def reach(e: FastLiberoExpert) -> Vec:
            # funnel: hover while far, sink onto the grasp point as the fingers centre on the object
            # (and have turned: 1 rad of yaw error counts as 5 cm)
            clear_of_walls(e)
            g = grasp(e)
            d = e.centring_distance(g, q)
            return e.guard(g + _up(hover * np.clip((d - 0.006) / 0.015, 0.0, 1.0)), None)

        def carry(e: FastLiberoExpert) -> Vec:
            return e.guard(drop(e), e.obj_geoms[obj])

        def held(e: FastLiberoExpert) -> bool:
            e.mem["hold_dz"] = e.eef_pos()[2] - e.body(obj)[2]  # where in the fingers it sits
            return _settled(e)

        def gone(e: FastLiberoExpert) -> bool:
            # the object fell 2 cm out of the fingers: the hand may leave
            return bool(e.eef_pos()[2] - e.body(obj)[2] > e.mem["hold_dz"] + 0.02)

        return [
            Phase(
                f"{tag}_reach", reach, -1, max_steps=60, done=lambda e: e.arrived_to_grasp(grasp(e)), rot=rot
            ),
            # grip 0 after closing holds the gripper's integrated command where the fingers met the
            # object: squeezing on to +1 would cost ~5 steps of re-opening at the release
            Phase(f"{tag}_grasp", grasp, 1, min_steps=3, max_steps=12, done=held, rot=rot),
            Phase(f"{tag}_carry", carry, 0, max_steps=60, done=lambda e: near(e, drop(e), 0.02), rot=rot),
            Phase(f"{tag}_release", drop, -1, max_steps=12, done=gone, rot=rot),
        ]

    def turned_from_neighbour(self, obj: str) -> Vec:
        """Start orientation yawed so the fingers close at right angles to the nearest other object."""
        here = self.body(obj) * [1, 1, 0]
        others = [f"{n}_main" for n in self.env.raw.objects_dict if f"{n}_main" not in (obj, self.basket)]
        near_xyz = min(
            (self.body(n) * [1, 1, 0] for n in others), key=lambda p: float(np.linalg.norm(p - here))
        )
        return self.yawed_across((near_xyz - here) / np.linalg.norm(near_xyz - here))

    def probe(self) -> str:
        ph = self.phases[self.k]
        err = ph.target(self) - self.eef_pos()
        objs = " ".join(
            f"{o[0][:5]}={(self.body(o[0]) - self.body(self.basket)).round(3)}" for o in self.objects
        )
        return f"err={err.round(3)} gap={_finger_gap(self):.3f} {objs}"


class BowlInBottomDrawer(FastLiberoExpert):
    """T6 (libero_10): bowl into the open bottom drawer, then push the drawer closed.

    The drawer starts open (slide joint -0.14 to -0.16, LIBERO's ``Close`` needs > 0) and only its
    front 13 cm stick out; the 20 cm wide palm must stay out from under the cabinet, so the hand
    turns 90 deg (fingers along x) and grips the bowl's rim on the robot's side, coming down inside a
    45 deg cone so the turned fingers pass over the wine bottle. The opening between
    the drawer's front panel and the middle drawer's handle (~10 cm) is narrower than the bowl
    (11.6 cm), so the level bowl often comes to rest on one of them on the way down: when the carry
    stalls over the spot the fingers open and the 6 g bowl drops in flat. The hand then rises, closes,
    comes down in front of the handle with the fingertips leaning towards the cabinet (upright, the
    forearm hits the cabinet's top corner) and pushes until the slide passes 0. Takes 110-130 steps.
    """

    bowl = "akita_black_bowl_1_main"
    drawer = "white_cabinet_1_cabinet_bottom"
    slide = "white_cabinet_1_bottom_level"
    handle = "white_cabinet_1_g40"
    # grip point on the rim's robot side, from the bowl's origin (a deeper bite than the rim's middle
    # held where a shallow one slipped)
    rim = np.array([-0.048, 0.0, 0.032])
    spot = np.array([0.02, -0.01])  # bowl centre in the drawer, from the bottom region's centre (x, y)
    lean = 0.7  # rad: fingertips tilted towards the cabinet for the push (about the finger axis)

    def plan(self) -> list[Phase]:
        self.measure_container(self.drawer)
        bowl_geoms = self.geom_ids(self.bowl)
        turned = rotate_quat_world(self.q0, np.array([0.0, 0.0, 1.0]), np.pi / 2)
        rot = lambda e: turned  # noqa: E731
        close = self.sim.data.xaxis[self.sim.model.joint_name2id(self.slide)].copy()  # joint rises to close
        # push with the fingertips leaning towards the cabinet: with the hand upright the forearm
        # (link 5) meets the cabinet's top corner with the drawer still 5 cm open
        side = np.cross(close, [0.0, 0.0, 1.0])
        leaning = rotate_quat_world(turned, side, self.lean)
        lean = lambda e: leaning  # noqa: E731
        grasp = lambda e: e.body(e.bowl) + e.rim  # noqa: E731

        def place(e: FastLiberoExpert) -> Vec:
            region = e.site("white_cabinet_1_bottom_region")
            floor = e.body(e.drawer)[2] + e.box.floor
            # bowl origin 4 mm above the floor: it drops flat when let go
            return np.array([region[0] + e.spot[0], region[1] + e.spot[1], floor + 0.004]) + e.rim

        def reach(e: FastLiberoExpert) -> Vec:
            g = grasp(e)
            d = e.centring_distance(g, turned)
            # and come down inside a 45 deg cone: a straight descent from the start sweeps the
            # turned fingers through the top of the wine bottle and can knock it onto the bowl
            hover = 0.045 * np.clip((d - 0.01) / 0.015, 0.0, 1.0) + max(d - 0.05, 0.0)
            return e.guard(g + _up(hover), None)

        def held(e: FastLiberoExpert) -> bool:
            e.mem["hold_gap"] = _finger_gap(e)  # the release opens from here
            return _settled(e)

        def stalled(e: FastLiberoExpert, goal: Vec) -> bool:
            # the bowl rests on the drawer's rim or the middle drawer's handle: let it drop from here
            p, prev = e.eef_pos(), e.mem.get("prev")
            e.mem["prev"] = p
            if prev is None or e.t_phase < 8:
                return False
            return bool(np.linalg.norm((goal - p)[:2]) < 0.02 and np.linalg.norm(p - prev) < 0.002)

        def front(e: FastLiberoExpert) -> Vec:
            # grip site 4.7 cm in front of the handle's centre (fingertips ~2 cm off its face)
            h = e.geom(e.handle)
            return h - close * 0.047

        return [
            Phase("reach", reach, -1, max_steps=60, done=lambda e: e.arrived_to_grasp(grasp(e)), rot=rot),
            Phase("grasp", grasp, 1, min_steps=5, max_steps=12, done=held, rot=rot),
            Phase(
                "carry",
                lambda e: e.guard(place(e), bowl_geoms),
                0,
                max_steps=70,
                rot=rot,
                done=lambda e: near(e, place(e), 0.01) or stalled(e, place(e)),
            ),
            # open 1.5 cm only: the outer finger is 3.5 cm from the drawer's side wall
            Phase(
                "release",
                place,
                -1,
                max_steps=8,
                rot=rot,
                done=lambda e: _finger_gap(e) > e.mem["hold_gap"] + 0.015,
            ),
            Phase("up", lambda e: e.mem["entry"] + _up(0.05), 0, tol=0.02, max_steps=20, rot=rot),
            Phase(
                "front",
                lambda e: e.guard(front(e), None),
                1,
                max_steps=50,
                rot=lean,
                done=lambda e: near(e, front(e), 0.012),
            ),
            Phase(
                "push",
                lambda e: front(e) + close * 0.15,  # far ahead: full force against the slide's damping
                1,
                max_steps=60,
                rot=lean,
                done=lambda e: e.joint(e.slide) > 0.002,
            ),
            Phase("hold", lambda e: e.mem["entry"] - close * 0.05, 1, max_steps=10**6, rot=lean),
        ]

    def probe(self) -> str:
        region = self.site("white_cabinet_1_bottom_region")
        return (
            f"slide={self.joint(self.slide):.3f} bowl-region={(self.body(self.bowl) - region).round(3)} "
            f"eef={self.eef_pos().round(3)} gap={_finger_gap(self):.3f} "
            f"minz={self.min_z(self.eef_pos()[:2], self.geom_ids(self.bowl)):.3f}"
        )
