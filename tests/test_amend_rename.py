"""AmendOrder's new clOrdID renames the order (BitMEX ``PUT /order`` ``clOrdID``: "Optional new Client Order ID").

review20_1: ccxt 4.5.83's ``edit_order`` by client id always sends a clOrdID, so serve must apply BitMEX's rename
rather than refuse it.  The new id is judged as PlaceOrder judges one (at most 36 characters, not another live
order's of the account: ``DuplicateClOrdID``, nothing changed); the order's own, ``""`` or None renames nothing; a
rename alone is an amendment.  From then on the order is known by the new id only: its reports carry it, a cancel
by it works, by the old one is unknown, the old one is free, and the journal's replay and a snapshot keep it.
A journal written before the field existed still replays (its AmendOrder records rename nothing).
ETHUSD (lot 1, tick 0.05) at 3,000.00.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Event, Execution, Reason, Rejected
from perpspec.engine.core.exchange import Engine
from perpspec.engine.durability.recovery import DurableExchange, command_codec
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.invariants import check_all

ETHUSD = load_instrument("ETHUSD")
MARK = 300_000


def _engine() -> Engine:
    engine = Engine({"ETHUSD": ETHUSD})
    for command in _setup():
        engine.process(command)
    return engine


def _setup() -> list[Any]:
    out: list[Any] = [c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=MARK, index_price=MARK)]
    for account in (1, 2):
        out += [c.VerifyAccount(time_ms=0, account=account), c.Deposit(time_ms=0, account=account, asset="XBt", amount=10**10)]
    return out


def _place(account: int, side: str, qty: int, price: int, cl_ord_id: str = "", **fields: Any) -> c.PlaceOrder:
    return c.PlaceOrder(time_ms=0, account=account, symbol="ETHUSD", side=side, order_qty=qty, price=price,
                        cl_ord_id=cl_ord_id, **fields)


def _ok(engine: Engine, command: Any) -> list[Event]:
    events = list(engine.process(command))
    assert not any(isinstance(e, Rejected) for e in events), events
    assert {k: v for k, v in check_all(engine, engine.step_info(events)).items() if v} == {}
    return events


def _refused(engine: Engine, command: Any, reason: Reason) -> None:
    before = Engine.from_snapshot(engine.snapshot())
    events = list(engine.process(command))
    assert [(type(e), getattr(e, "reason", None)) for e in events] == [(Rejected, reason)], events
    before.seq = engine.seq  # a refusal numbers its event, and changes nothing else
    assert engine.state_hash() == before.state_hash()


def _ids(engine: Engine, account: int = 1) -> list[tuple[str, int, int]]:
    return [(o.cl_ord_id, o.leaves_qty, o.price) for _, o in sorted(engine.live_orders.items()) if o.account == account]


def _replaced(events: list[Event]) -> list[tuple[str, int, int]]:
    return [(e.cl_ord_id, e.order_qty, e.price) for e in events if isinstance(e, Execution) and e.exec_type == "Replaced"]


def _amend(**fields: Any) -> c.AmendOrder:
    return c.AmendOrder(time_ms=0, account=1, **fields)


def test_a_rename_alone_renames_the_order_and_its_report_carries_the_new_id() -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    events = _ok(engine, _amend(orig_cl_ord_id="a1", cl_ord_id="a2"))
    assert _replaced(events) == [("a2", 10, 290_000)]
    assert _ids(engine) == [("a2", 10, 290_000)]
    _refused(engine, c.CancelOrder(time_ms=0, account=1, cl_ord_id="a1"), Reason.UNKNOWN_ORDER)
    _refused(engine, _amend(orig_cl_ord_id="a1", price=290_050), Reason.UNKNOWN_ORDER)
    _ok(engine, _place(1, "Buy", 1, 289_000, "a1"))  # the old id is free again
    events = _ok(engine, c.CancelOrder(time_ms=0, account=1, cl_ord_id="a2"))
    assert [(e.exec_type, e.cl_ord_id, e.price) for e in events if isinstance(e, Execution)] == [("Canceled", "a2", 290_000)]
    assert _ids(engine) == [("a1", 1, 289_000)]


def test_a_rename_and_a_quantity_and_price_change_apply_together() -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    order_id = max(engine.live_orders)
    events = _ok(engine, _amend(order_id=order_id, cl_ord_id="a2", order_qty=15, price=290_050))
    assert _replaced(events) == [("a2", 15, 290_050)]
    assert _ids(engine) == [("a2", 15, 290_050)]


def test_renaming_to_another_live_orders_id_is_refused_and_changes_nothing() -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    _ok(engine, _place(1, "Buy", 5, 289_000, "b1"))
    _refused(engine, _amend(orig_cl_ord_id="a1", cl_ord_id="b1", order_qty=20, price=290_050), Reason.DUPLICATE_CL_ORD_ID)
    assert _ids(engine) == [("a1", 10, 290_000), ("b1", 5, 289_000)]
    # another account's live id is free to take: uniqueness is per account
    _ok(engine, _place(2, "Sell", 5, 310_000, "c1"))
    _ok(engine, _amend(orig_cl_ord_id="a1", cl_ord_id="c1"))
    assert _ids(engine) == [("c1", 10, 290_000), ("b1", 5, 289_000)]


@pytest.mark.parametrize("same", ["a1", "", None])
def test_the_orders_own_id_empty_or_none_renames_nothing(same: str | None) -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    events = _ok(engine, _amend(orig_cl_ord_id="a1", cl_ord_id=same, price=290_050))
    assert _replaced(events) == [("a1", 10, 290_050)]


def test_an_order_without_an_id_may_be_given_one() -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000))
    _ok(engine, _amend(order_id=max(engine.live_orders), cl_ord_id="n1"))
    _ok(engine, c.CancelOrder(time_ms=0, account=1, cl_ord_id="n1"))
    assert _ids(engine) == []


@pytest.mark.parametrize(("bad", "reason"), [("x" * 37, Reason.MALFORMED), (7, Reason.MALFORMED), (["a"], Reason.MALFORMED)])
def test_a_bad_new_id_is_refused_as_placeorder_refuses_it(bad: Any, reason: Reason) -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    _refused(engine, _amend(orig_cl_ord_id="a1", cl_ord_id=bad), reason)
    _refused(engine, _place(1, "Buy", 1, 289_000, bad), reason)  # the same verdict on entry
    _ok(engine, _amend(orig_cl_ord_id="a1", cl_ord_id="x" * 36))


def test_a_renamed_amend_that_trades_reports_the_new_id_and_frees_it_when_filled() -> None:
    engine = _engine()
    _ok(engine, _place(2, "Sell", 10, 300_000))
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    events = _ok(engine, _amend(orig_cl_ord_id="a1", cl_ord_id="a2", price=300_000))
    mine = [(e.exec_type, e.cl_ord_id) for e in events if isinstance(e, Execution) and e.account == 1]
    assert mine == [("Replaced", "a2"), ("Trade", "a2")]
    assert _ids(engine) == []
    _ok(engine, _place(1, "Buy", 1, 289_000, "a2"))  # filled: the new id is free
    _ok(engine, _place(1, "Buy", 1, 289_000, "a1"))


def test_an_untriggered_stop_is_renamed() -> None:
    engine = _engine()
    _ok(engine, c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=10, stop_px=310_000,
                             cl_ord_id="s1"))
    events = _ok(engine, _amend(orig_cl_ord_id="s1", cl_ord_id="s2", stop_px=311_000))
    assert [(e.cl_ord_id, e.stop_px) for e in events if isinstance(e, Execution)] == [("s2", 311_000)]
    events = _ok(engine, c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=311_000, index_price=311_000))
    assert {e.cl_ord_id for e in events if isinstance(e, Execution)} == {"s2"}


def test_a_snapshot_keeps_the_renamed_index() -> None:
    engine = _engine()
    _ok(engine, _place(1, "Buy", 10, 290_000, "a1"))
    _ok(engine, _amend(orig_cl_ord_id="a1", cl_ord_id="a2"))
    restored = Engine.from_snapshot(engine.snapshot())  # state_check verifies the clOrdID index names its orders
    assert restored.state_hash() == engine.state_hash()
    _refused(restored, c.CancelOrder(time_ms=0, account=1, cl_ord_id="a1"), Reason.UNKNOWN_ORDER)
    _ok(restored, c.CancelOrder(time_ms=0, account=1, cl_ord_id="a2"))


@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_recovery_from_the_journal_keeps_the_new_id(tmp_path: Path, snapshot_every: int) -> None:
    store = str(tmp_path / "store")
    durable, _ = DurableExchange.open(store, command_codec(), lambda: Engine({"ETHUSD": ETHUSD}),
                                      snapshot_every=snapshot_every)
    for command in _setup():
        durable.submit(command)
    durable.submit(_place(1, "Buy", 10, 290_000, "a1"))
    durable.submit(_place(1, "Buy", 5, 289_000, "b1"))
    events = durable.submit(_amend(orig_cl_ord_id="a1", cl_ord_id="a2", order_qty=12))
    assert _replaced(list(events)) == [("a2", 12, 290_000)]
    assert isinstance(durable.submit(_amend(orig_cl_ord_id="a2", cl_ord_id="b1"))[-1], Rejected)
    live = durable.exchange.state_hash()
    durable.close()
    durable, _ = DurableExchange.open(store, command_codec(), lambda: Engine({"ETHUSD": ETHUSD}))
    try:
        engine = durable.exchange
        assert engine.state_hash() == live
        assert _ids(engine) == [("a2", 12, 290_000), ("b1", 5, 289_000)]
        assert isinstance(durable.submit(c.CancelOrder(time_ms=0, account=1, cl_ord_id="a1"))[-1], Rejected)
        assert not isinstance(durable.submit(c.CancelOrder(time_ms=0, account=1, cl_ord_id="a2"))[-1], Rejected)
    finally:
        durable.close()


def test_an_amend_journaled_before_the_field_existed_decodes_and_renames_nothing() -> None:
    """The journal's policy for a command gaining a defaulted field (docs/durability.md): records are decoded by
    the writer's schema, the missing field takes its default; such a journal replays (it is not continued)."""
    codec = command_codec()
    old_schema = dict(codec.schema)
    old_schema["AmendOrder"] = [f for f in codec.schema["AmendOrder"] if f != "cl_ord_id"]
    old = c.AmendOrder(time_ms=5, account=1, orig_cl_ord_id="a1", price=290_050)
    reader = command_codec()
    reader.use_writer_schema(old_schema)
    decoded = reader.decode(b'["AmendOrder",5,1,null,"a1",null,null,290050,null,null]')
    assert (decoded, getattr(decoded, "cl_ord_id", 0)) == (old, None)
