"""The event log's commonest rows written straight as text are the text ``encode_json`` writes of their records.

``simulate`` writes executions, acceptances and position updates with
``eventlog.event_line`` (no dictionary, no generic encoder, no bare-number pass).  For
any such event — tricky strings, marked numbers, any integers, zero prices — the line is
exactly ``encode_json(event_records(...)[0])``, or None (then the run writes the record),
and the run counts the same.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from perpspec.engine.core.events import Accepted, Execution, PositionUpdate
from perpspec.engine.simulation.eventlog import (
    NUM_MARK,
    count_execution,
    encode_json,
    event_line,
    event_records,
)
from perpspec.engine.simulation.result import Tally
from perpspec.rules.instrument_file import load_instrument

INSTRUMENTS = [load_instrument(symbol) for symbol in ("XBTUSD", "XBTUSDT", "ETHUSD")]
texts = st.one_of(
    st.sampled_from(["", "New", "Trade", "XBTUSD", "AddedLiquidity", "Canceled: self-trade prevention"]),
    st.text(max_size=12),
    st.text(alphabet=['"', "\\", NUM_MARK, "1", ".", "-", "é", "\u2028", "\n"], max_size=8),
)
ints = st.one_of(st.integers(-(10**6), 10**9), st.integers(-(2**70), 2**70), st.just(0))
prices = st.one_of(st.just(0), st.integers(1, 10**8), st.integers(-(10**6), -1))
times = st.integers(0, 4_102_444_800_000)


def compare(event: object, inst_index: int) -> None:
    inst = INSTRUMENTS[inst_index]
    tally, quick = Tally(), Tally()
    records = event_records(inst, event, tally, {})  # type: ignore[arg-type]
    line = event_line(inst, event)  # type: ignore[arg-type]
    if isinstance(event, Execution):
        count_execution(event, quick)
    assert (tally.trades, tally.contracts_traded) == (quick.trades, quick.contracts_traded)
    assert len(records) == 1
    if line is not None:
        assert line == encode_json(records[0])
    else:  # only a string holding the number mark is left to the generic encoder
        assert any(NUM_MARK in value for value in event if isinstance(value, str))  # type: ignore[attr-defined]


@settings(max_examples=400, deadline=None)
@given(
    st.builds(
        Execution, seq=ints, time_ms=times, exec_type=texts, account=ints, symbol=texts, order_id=ints,
        cl_ord_id=texts, side=texts, ord_type=texts, order_qty=ints, price=prices, stop_px=prices, last_qty=ints,
        last_px=prices, leaves_qty=ints, cum_qty=ints, ord_status=texts, exec_comm=ints, last_liquidity_ind=texts,
        text=texts,
    ),
    st.integers(0, len(INSTRUMENTS) - 1),
)  # fmt: skip
def test_execution_lines(event: Execution, inst_index: int) -> None:
    compare(event, inst_index)


@settings(max_examples=200, deadline=None)
@given(
    st.builds(Accepted, seq=ints, time_ms=times, command=texts, account=ints, order_id=ints),
    st.integers(0, len(INSTRUMENTS) - 1),
)
def test_accepted_lines(event: Accepted, inst_index: int) -> None:
    compare(event, inst_index)


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        PositionUpdate, seq=ints, time_ms=times, account=ints, symbol=texts, current_qty=ints, pos_cost=ints,
        leverage_hundredths=ints, liquidation_price=prices, bankrupt_price=prices,
    ),
    st.integers(0, len(INSTRUMENTS) - 1),
)  # fmt: skip
def test_position_lines(event: PositionUpdate, inst_index: int) -> None:
    compare(event, inst_index)


def test_a_plain_trade_is_written_straight() -> None:
    event = Execution(
        seq=9, time_ms=1_583_971_260_000, exec_type="Trade", account=5, symbol="XBTUSD", order_id=77, cl_ord_id="",
        side="Buy", ord_type="Limit", order_qty=100, price=735_350, stop_px=0, last_qty=100, last_px=735_350,
        leaves_qty=0, cum_qty=100, ord_status="Filled", exec_comm=-12, last_liquidity_ind="AddedLiquidity", text="",
    )  # fmt: skip
    line = event_line(INSTRUMENTS[0], event)
    assert line is not None
    assert '"price":7353.5,"stopPx":null' in line
    compare(event, 0)
