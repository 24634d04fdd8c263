"""What the engine and ``perpspec export`` accept from files: red team 6's finds 1, 3 and 4 (session 13).

* Fee tier 0 -- what every account below the first volume threshold pays -- went unchecked by
  ``rules.instrument_file.validate``: an instrument with a -500% maker rebate in tier 0 (one 50,000 USDT trade
  paid the maker 250,000 USDT), or with no tier at all (InternalError on every order), loaded through
  ``Engine(instruments=...)`` and ``Engine.from_snapshot``.  Tier 0 must now be (adv 0, makerFee, takerFee), a
  tier's taker fee is never negative, and ``priceScale`` is a power of ten in ``validate`` (not only in the loader).
* A snapshot position whose ``risk_limit`` is not ``riskLimit + chosen_tier * riskStep`` (the one pair
  SetRiskLimit makes, RSK-006) is refused by field; it lifted the risk-limit cap.
* ``perpspec export`` named its files after a row's ``table`` text (``../../x``, absolute paths wrote outside
  the output folder) and a JSON line that is not an object was an internal error (exit 70): both are now a
  one-line input error (exit 2) and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.core import commands as c
from perpspec.engine.core.events import Accepted
from perpspec.engine.core.exchange import Engine
from perpspec.engine.core.state_codec import CodecError, decode_state, encode_state
from perpspec.engine.simulation.export import ExportInputError, export_events, read_event_rows
from perpspec.rules.instrument import FeeTier
from perpspec.rules.instrument_file import (
    InstrumentError,
    builtin_dir,
    load_builtin_instruments,
    load_instrument,
    validate,
)

BUILTIN = load_builtin_instruments()
XBTUSDT = BUILTIN["XBTUSDT"]
XBTUSD = BUILTIN["XBTUSD"]
REBATE_TIERS = (FeeTier(adv_usd=0, maker_fee_ppm=-5_000_000, taker_fee_ppm=0), *XBTUSDT.fee_tiers[1:])


# --- fee tier 0 and priceScale (redteam6_1) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "tiers"),
    [
        ("a -500% maker rebate in tier 0", REBATE_TIERS),
        ("no fee tier at all", ()),
        ("tier 0 above zero volume", (attrs.evolve(XBTUSDT.fee_tiers[0], adv_usd=1), *XBTUSDT.fee_tiers[1:])),
        ("tier 0 cheaper than makerFee", (attrs.evolve(XBTUSDT.fee_tiers[0], maker_fee_ppm=XBTUSDT.maker_fee_ppm - 1),
                                          *XBTUSDT.fee_tiers[1:])),
        ("tier 0 dearer than takerFee", (attrs.evolve(XBTUSDT.fee_tiers[0], taker_fee_ppm=XBTUSDT.taker_fee_ppm + 1),
                                         *XBTUSDT.fee_tiers[1:])),
    ],
)
def test_validate_refuses_a_tier_0_that_is_not_the_files_fees(label: str, tiers: tuple[FeeTier, ...]) -> None:
    assert validate(attrs.evolve(XBTUSDT, fee_tiers=tiers)) == (
        "feeTiers", "tier 0 must be (adv 0, makerFee, takerFee)"), label


def test_validate_refuses_a_negative_taker_fee_in_a_higher_tier() -> None:
    """Both sides of a trade at such a tier were paid: maker <= taker < 0 passed the tier check."""
    tiers = (XBTUSDT.fee_tiers[0], FeeTier(adv_usd=10**6, maker_fee_ppm=-200, taker_fee_ppm=-100))
    assert validate(attrs.evolve(XBTUSDT, fee_tiers=tiers)) == ("feeTiers[0].takerFee", "must be between 0 and 1")


@pytest.mark.parametrize("scale", [3, 20, 99, 1001])
def test_validate_refuses_a_price_scale_that_is_not_a_power_of_ten(scale: int) -> None:
    assert validate(attrs.evolve(XBTUSD, price_scale=scale)) == ("priceScale", "must be a positive power of ten")


def test_every_shipped_instrument_still_loads_and_validates() -> None:
    paths = sorted(builtin_dir().glob("**/*.toml"))
    assert len(paths) == len(BUILTIN) + 1 == 5  # the four contracts and spot/XBT_USDT
    for path in paths:
        inst = load_instrument(str(path))
        assert validate(inst) is None, path
        assert inst.fee_tiers[0] == FeeTier(adv_usd=0, maker_fee_ppm=inst.maker_fee_ppm,
                                            taker_fee_ppm=inst.taker_fee_ppm), path
    for price_scale in (1, 10, 100, 10**8):  # the powers of ten stay valid
        problem = validate(attrs.evolve(XBTUSDT, price_scale=price_scale))
        assert problem is None or problem[0] != "priceScale", price_scale


@pytest.mark.parametrize("tiers", [REBATE_TIERS, ()], ids=["rebate", "no-tiers"])
def test_engine_refuses_such_an_instrument_by_field(tiers: tuple[FeeTier, ...]) -> None:
    with pytest.raises(InstrumentError, match=r"instruments\['XBTUSDT'\].*feeTiers.*tier 0 must be"):
        Engine(instruments={**BUILTIN, "XBTUSDT": attrs.evolve(XBTUSDT, fee_tiers=tiers)})


@pytest.mark.parametrize("tiers", [REBATE_TIERS, ()], ids=["rebate", "no-tiers"])
def test_a_snapshot_with_such_an_instrument_is_refused(tiers: tuple[FeeTier, ...]) -> None:
    state = decode_state(Engine().snapshot())
    state["instrument_map"] = {**state["instrument_map"],
                               "XBTUSDT": attrs.evolve(state["instrument_map"]["XBTUSDT"], fee_tiers=tiers)}
    with pytest.raises(CodecError, match=r"XBTUSDT.*tier 0 must be"):
        Engine.from_snapshot(encode_state(state))


# --- the risk-limit pair of a snapshot position (redteam6_3) --------------------------------------------------

PRICE = 5_000_000  # 50,000.00 USD


def _engine_with_position() -> Engine:
    engine = Engine()
    for account in (1, 2):
        engine.process(c.VerifyAccount(time_ms=0, account=account))
        engine.process(c.Deposit(time_ms=0, account=account, asset="XBt", amount=100_000 * 10**8))
    engine.process(c.PriceUpdate(time_ms=0, symbol="XBTUSD", mark_price=PRICE, index_price=PRICE))
    engine.process(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, price=PRICE - 50))
    return engine


@pytest.mark.parametrize(
    ("risk_limit", "chosen_tier"),
    [(10**20, 0), (XBTUSD.risk_limit + XBTUSD.risk_step, 0), (XBTUSD.risk_limit, 1),
     (XBTUSD.risk_limit + XBTUSD.risk_step + 1, 1)],
)
def test_a_snapshot_risk_limit_no_set_risk_limit_makes_is_refused(risk_limit: int, chosen_tier: int) -> None:
    state = decode_state(_engine_with_position().snapshot())
    position = state["accounts"][1].positions["XBTUSD"]
    position.risk_limit, position.chosen_tier = risk_limit, chosen_tier
    with pytest.raises(CodecError, match=r"accounts\[1\]\.positions\['XBTUSD'\]\.risk_limit.*riskLimit \+ chosen_tier"):
        Engine.from_snapshot(encode_state(state))


def test_a_risk_limit_set_by_command_round_trips_through_a_snapshot() -> None:
    engine = _engine_with_position()
    for steps in (1, 7):
        limit = XBTUSD.risk_limit + steps * XBTUSD.risk_step
        assert isinstance(engine.process(c.SetRiskLimit(time_ms=1, account=1, symbol="XBTUSD", risk_limit=limit))[-1],
                          Accepted)
        again = Engine.from_snapshot(engine.snapshot())
        position = again.ledger.accounts[1].positions["XBTUSD"]
        assert (position.risk_limit, position.chosen_tier) == (limit, steps)
        assert again.state_hash() == engine.state_hash()


# --- perpspec export names files only after plain table names (redteam6_4) ------------------------------------


def _log(folder: Path, rows: list[object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    events = folder / "events.jsonl"
    events.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return events


@pytest.mark.parametrize("table", ["../../escaped", "ABSOLUTE", "a/b", "..", ".", "x.y", "é", 5,
                                   ["execution"], "x" * 65, "exec\x00ution"])
def test_export_refuses_a_table_that_is_not_a_plain_name_and_writes_nothing(tmp_path: Path, table: object) -> None:
    if table == "ABSOLUTE":  # an absolute path, inside this test's folder
        table = str(tmp_path / "absolute_target")
    events = _log(tmp_path / "a" / "b" / "run", [{"table": "execution", "seq": 1}, {"table": table, "seq": 2}])
    out = events.parent / "csv"
    with pytest.raises(ExportInputError, match="line 2: table"):
        export_events(events, out, "csv")
    assert not out.exists()
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == ["events.jsonl"]


@pytest.mark.parametrize("line", ["[1]", "5", '"execution"', "null", "true"])
def test_a_line_that_is_not_an_object_is_a_typed_error(tmp_path: Path, line: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"table": "execution", "seq": 1}\n\n' + line + "\n")
    with pytest.raises(ExportInputError, match="line 3: is a JSON"):
        list(read_event_rows(events))


@pytest.mark.parametrize(
    ("rows", "message"),
    [([{"table": "../../escaped"}], "table '../../escaped' is not a plain table name"),
     ([[1]], "line 1: is a JSON list, not an object")],
)
def test_the_cli_says_so_in_one_line_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 rows: list[object], message: str) -> None:
    events = _log(tmp_path / "a" / "b" / "run", rows)
    assert main(["export", str(events.parent), "--format", "csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert not (events.parent / "csv").exists()
    assert not list(tmp_path.rglob("*.csv"))


def test_plain_tables_still_export_and_rows_without_a_table_share_one_file(tmp_path: Path) -> None:
    rows = [{"table": "execution", "seq": 1}, {"seq": 2}, {"table": "", "seq": 3}, {"table": None, "seq": 4},
            {"table": "untabled", "seq": 5}, {"table": "rule_2", "seq": 6}]
    events = _log(tmp_path, rows)
    written = export_events(events, tmp_path / "csv", "csv")
    assert [path.name for path in written] == ["execution.csv", "untabled.csv", "rule_2.csv"]
    untabled = (tmp_path / "csv" / "untabled.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in untabled[1:]] == ["2", "3", "4", "5"]  # none overwritten

