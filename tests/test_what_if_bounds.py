"""``what-if`` positions are held to the engine's own bounds: MRG-065 leverage, trader account ids.

Noticed in session 5 and left then: a positions file with ``leverage = "1000000000"`` or account
``id = -1`` was evaluated as if the engine could hold it.  The engine's SetLeverage refuses a
leverage above the position's risk tier's maximum (MRG-065, ``check_leverage``), and negative ids
are the engine's own (the liquidator), so ``parse_state`` now refuses both, naming the field.
"""

from __future__ import annotations

import pytest

from perpspec.engine.simulation.what_if import StateError, parse_state
from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.margin import check_leverage
from perpspec.rules.risk_limit import compute_risk_steps

XBTUSD = load_instrument("XBTUSD")
INSTRUMENTS = {"XBTUSD": XBTUSD}


def _state(leverage: str, account: int = 1, qty: int = 1000) -> dict[str, object]:
    return {
        "marks": {"XBTUSD": "50000"},
        "accounts": [
            {
                "id": account,
                "wallet": {"XBt": 10**8},
                "positions": [{"symbol": "XBTUSD", "qty": qty, "entry": "50000", "leverage": leverage}],
            }
        ],
    }


def test_the_base_tier_maximum_is_accepted_and_one_hundredth_more_refused() -> None:
    top = 10**6 // XBTUSD.init_margin_ppm  # 100x for XBTUSD's 1% initial margin
    assert check_leverage(XBTUSD, top * 100, 0) is None
    state = parse_state(_state(str(top)), INSTRUMENTS, "t")
    assert state.positions[0].leverage_hundredths == top * 100
    with pytest.raises(StateError, match=r"accounts\[0\]\.positions\[0\]\.leverage.*MRG-065"):
        parse_state(_state(f"{top}.01"), INSTRUMENTS, "t")
    with pytest.raises(StateError, match=r"leverage"):
        parse_state(_state("1000000000"), INSTRUMENTS, "t")
    with pytest.raises(StateError, match=r"leverage"):
        parse_state(_state("0.001"), INSTRUMENTS, "t")


def test_a_position_beyond_the_base_risk_tier_has_a_lower_maximum() -> None:
    qty = 10**9  # $1bn of XBTUSD: well past the base risk limit
    steps = compute_risk_steps(XBTUSD, abs(compute_value(XBTUSD, qty, 5_000_000)))
    assert steps > 0
    top = 10**6 // XBTUSD.init_margin_ppm
    with pytest.raises(StateError, match=r"MRG-065"):
        parse_state(_state(str(top), qty=qty), INSTRUMENTS, "t")
    assert parse_state(_state("cross", qty=qty), INSTRUMENTS, "t").positions[0].leverage_hundredths == 0


def test_a_negative_account_id_is_refused() -> None:
    with pytest.raises(StateError, match=r"accounts\[0\]\.id.*non-negative"):
        parse_state(_state("cross", account=-1), INSTRUMENTS, "t")
    assert parse_state(_state("cross", account=0), INSTRUMENTS, "t").positions[0].account_id == 0
