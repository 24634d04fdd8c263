"""What the state check and the views read of untriggered orders (session 15, helper "mut15").

* ``Order.whole_position`` (ORD-012, session 14) is one of the order's booleans the snapshot check types
  (``_ORDER_BOOLS``): a snapshot carrying another value there (an integer: truthy, so the order would be re-sized
  when it fires) is refused.  Dropping it from the list passed every test.
* ``Engine.untriggered_orders`` (INV-TRIGGERS-DUE-FIRED's reading) lists a contract's waiting orders in order-id
  order, whatever the pool's dict order (a snapshot's, before session 15 also a timer undo's, which put cancelled
  orders back at the pool's end in reverse). Listing them in pool order passed every test.
"""

from __future__ import annotations

import pytest

from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from tests.test_s14_close_stop import S, _close_stop, _engine


def test_ord_012_a_snapshot_with_a_non_boolean_whole_position_is_refused() -> None:
    engine = _engine()
    stop = _close_stop(engine)
    state = decode_state(engine.snapshot())
    object.__setattr__(state["live_orders"][stop], "whole_position", 1)
    with pytest.raises(CodecError, match="whole_position"):
        Engine.from_snapshot(encode_state(state))


def test_the_untriggered_orders_are_listed_in_order_id_order_whatever_the_pool_order() -> None:
    engine = _engine()
    ids = [_close_stop(engine, order_qty=100 * (k + 1)) for k in range(3)]
    state = decode_state(engine.snapshot())
    state["conditional"][S] = dict(reversed(list(state["conditional"][S].items())))  # a snapshot's own dict order
    loaded = Engine.from_snapshot(encode_state(state))
    pool = loaded.triggers.conditional[S]
    assert [key for key in pool if key in ids] == sorted(ids, reverse=True)
    listed = [order.order_id for order in loaded.untriggered_orders(S)]
    assert listed == sorted(listed)
    assert set(ids) <= set(listed)
