"""Session 21, mut31_8 (/work/coord/repro21/mut31_report.md): ``rules.waterfall_postings.get_ledger_available`` (ACC-006's
``available`` in the rules model, the reference the engine is differentially tested against) was reached by three
tests and pinned by none: taking another account's holdings (``account ==`` -> ``!=``), another currency's
(``settl_currency ==`` -> ``!=``), or skipping the account's positions (``qty != 0`` -> ``== 0`` / ``!= 1``) passed every
test and proof.  Here it is pinned to MRG-050 over the account's own holdings settled in the currency.
"""

from __future__ import annotations

from perpspec.rules.contract import compute_value
from perpspec.rules.instrument_file import load_instrument
from perpspec.rules.insurance import InsuranceFund
from perpspec.rules.margin import compute_account_margin, compute_position_margin
from perpspec.rules.position import Position
from perpspec.rules.waterfall_postings import get_ledger_available
from perpspec.rules.waterfall_state import Holding, Ledger

INST = {s: load_instrument(s) for s in ("XBTUSD", "ETHUSD", "XBTUSDT")}
MARKS = {"XBTUSD": 4_800_000, "ETHUSD": 290_000, "XBTUSDT": 4_800_000}
WALLETS = {(1, "XBt"): 30_000_000, (1, "USDt"): 10**10, (2, "XBt"): 10**9}


def _long(symbol: str, qty: int, price: int) -> Position:
    return Position(qty=qty, cost=compute_value(INST[symbol], qty, price))


# account 1: an isolated XBTUSD long (margin 2,500,000), a cross ETHUSD long of one contract, a cross XBTUSDT long (USDt);
# account 2: a losing cross XBTUSD short
HOLD = {
    (1, "XBTUSD"): Holding(position=_long("XBTUSD", 10_000, 5_000_000), leverage_hundredths=1000, isolated_margin=2_500_000),
    (1, "ETHUSD"): Holding(position=_long("ETHUSD", 1, 300_000)),
    (1, "XBTUSDT"): Holding(position=_long("XBTUSDT", 1_000, 5_000_000)),
    (2, "XBTUSD"): Holding(position=_long("XBTUSD", -50_000, 4_500_000)),
}


def _ledger(holdings: dict[tuple[int, str], Holding]) -> Ledger:
    funds = {"XBt": InsuranceFund(currency="XBt"), "USDt": InsuranceFund(currency="USDt")}
    return Ledger(instrument_map=INST, marks=MARKS, wallets=WALLETS, holdings=holdings, funds=funds)


def _without(*keys: tuple[int, str]) -> int:
    return get_ledger_available(_ledger({k: v for k, v in HOLD.items() if k not in keys}), 1, "XBt")


def test_mut31_8_available_is_mrg_050_over_the_account_s_own_holdings_in_the_currency() -> None:
    full = _ledger(HOLD)
    lines = tuple(
        compute_position_margin(INST[s], h.position, MARKS[s], h.leverage_hundredths, full.margin_setting(1, s).pos_cross)
        for (a, s), h in sorted(HOLD.items())
        if a == 1 and INST[s].settl_currency == "XBt"
    )
    assert len(lines) == 2
    assert get_ledger_available(full, 1, "XBt") == compute_account_margin(WALLETS[(1, "XBt")], lines, 0).available_margin


def test_mut31_8_other_accounts_and_other_currencies_change_nothing() -> None:
    got = get_ledger_available(_ledger(HOLD), 1, "XBt")
    assert _without((2, "XBTUSD")) == got
    assert _without((1, "XBTUSDT")) == got


def test_mut31_8_a_one_contract_cross_position_counts() -> None:
    assert _without((1, "ETHUSD")) != get_ledger_available(_ledger(HOLD), 1, "XBt")
