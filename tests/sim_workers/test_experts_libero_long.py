"""The unseen long-horizon experts (T5, T6) finish both stages within the paper's 200 steps."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.sim_workers.experts_libero_long import BowlInBottomDrawer, SoupAndCheeseInBasket

pytestmark = pytest.mark.sim


@pytest.mark.timeout(300)
def test_basket_expert_puts_the_soup_then_the_cheese_in_the_basket(expert_episode):
    """Init state 44 stands the cream cheese against the basket: the grasp slides off-centre."""
    env, expert, entered = expert_episode("T5", 44)
    assert isinstance(expert, SoupAndCheeseInBasket)
    assert env.is_success()
    # the soup was let go in the basket before the cheese was picked up
    assert entered.index("alphabet_soup_release") < entered.index("cream_cheese_reach")
    lo, hi = (expert.body(expert.basket)[:2] + b for b in (expert.box.in_lo, expert.box.in_hi))
    for obj in ("alphabet_soup_1_main", "cream_cheese_1_main"):
        xy = expert.body(obj)[:2]
        assert np.all(xy > lo) and np.all(xy < hi), obj
    # the palm would have hung over the basket's wall with the fingers centred on the cheese
    assert np.linalg.norm(expert.mem["cream_cheese_shift"]) > 0


@pytest.mark.timeout(300)
def test_drawer_expert_leaves_the_bowl_in_the_drawer_and_closes_it(expert_episode):
    env, expert, entered = expert_episode("T6", 4)
    assert isinstance(expert, BowlInBottomDrawer)
    assert env.is_success()
    assert "push" in entered and entered.index("release") < entered.index("push")
    assert expert.joint(expert.slide) > 0  # LIBERO's Close: the slide back past 0
    # the bowl stays inside the drawer's walls as it closes
    lo, hi = (expert.body(expert.drawer)[:2] + b for b in (expert.box.in_lo, expert.box.in_hi))
    xy = expert.body(expert.bowl)[:2]
    assert np.all(xy > lo) and np.all(xy < hi)
