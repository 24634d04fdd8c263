"""A snapshot flagging ``whole_position`` on an untriggered order that is no Close order is refused (session 15,
helper "mut15").

ORD-012's flag means "a Close order placed without orderQty: re-sized to the whole position when it fires"; only an
untriggered Close order carries it (``OrderEntry.place``), and ``_fire`` clears it.  The snapshot check refuses
both other cases; the triggered one is pinned by tests/test_s14_close_stop.py, but dropping the ``not order.close``
half passed every test.  A ReduceOnly stop flagged so would be re-sized to the whole position when it fires, which
no ReduceOnly order does: a state the engine cannot make, refused (issue: a snapshot is anyone's to forge).
"""

from __future__ import annotations

import pytest

from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from tests.test_s14_close_stop import _close_stop, _engine


def test_ord_012_a_snapshot_flagging_an_untriggered_reduce_only_stop_is_refused() -> None:
    engine = _engine()
    stop = _close_stop(engine)
    state = decode_state(engine.snapshot())
    order = state["live_orders"][stop]
    assert order.whole_position
    assert Engine.from_snapshot(encode_state(state)).state_hash() == engine.state_hash()  # as the engine made it
    object.__setattr__(order, "close", False)  # a ReduceOnly stop (reduce_only stays set), still flagged
    assert order.reduce_only
    assert not order.triggered
    with pytest.raises(CodecError, match="whole_position: only an untriggered Close order"):
        Engine.from_snapshot(encode_state(state))
