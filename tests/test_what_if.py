"""`perpspec what-if`: the same positions under proposed instrument parameters.

Money does not move when parameters change (isolated margin stays as posted,
wallets stay); requirements are recomputed, so liquidation prices move, some
positions become liquidatable at the current mark and leave the ADL queue.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.simulation.what_if import StateError, WhatIf, compare, parse_state, read_state_file
from perpspec.rules.instrument_file import load_instrument

POSITIONS = """
[marks]
XBTUSD = "50000"
XBTUSDT = "50000"

[[accounts]]
id = 1
wallet = { XBt = 100000000 }
positions = [ { symbol = "XBTUSD", qty = 100000, entry = "50000", leverage = "50" } ]

[[accounts]]
id = 2
wallet = { XBt = 50000000 }
positions = [ { symbol = "XBTUSD", qty = -60000, entry = "52000", leverage = "cross" } ]

[[accounts]]
id = 3
wallet = { XBt = 30000000, USDt = 10000000000 }
positions = [
  { symbol = "XBTUSD", qty = -40000, entry = "49000", leverage = "10" },
  { symbol = "XBTUSDT", qty = 1000, entry = "49000", leverage = "cross" },
]

[[accounts]]
id = 4
wallet = { XBt = 20000000 }
positions = [ { symbol = "XBTUSD", qty = 20000, entry = "48000", leverage = "cross" } ]
"""


def run_what_if(tmp_path: Path, text: str, **overrides: str) -> WhatIf:
    path = tmp_path / "positions.toml"
    path.write_text(text)
    current = {symbol: load_instrument(symbol) for symbol in ("XBTUSD", "XBTUSDT")}
    proposed = dict(current, XBTUSD=load_instrument("XBTUSD", overrides))
    return compare(parse_state(read_state_file(path), current, str(path)), current, proposed)


def test_unchanged_parameters_change_nothing(tmp_path: Path) -> None:
    result = run_what_if(tmp_path, POSITIONS)
    assert [c.before for c in result.changes] == [c.after for c in result.changes]
    assert all(entry.rank_before == entry.rank_after for entry in result.queue)


def test_higher_maintenance_moves_liquidation_prices_toward_the_mark(tmp_path: Path) -> None:
    result = run_what_if(tmp_path, POSITIONS, maintMargin="0.009")
    xbtusd = [c for c in result.changes if c.held.symbol == "XBTUSD"]
    longs = [(c.before.liquidation_price, c.after.liquidation_price) for c in xbtusd if c.held.qty > 0]
    shorts = [(c.before.liquidation_price, c.after.liquidation_price) for c in xbtusd if c.held.qty < 0]
    assert all(after > before for before, after in longs)
    assert all(after < before for before, after in shorts)


def test_isolated_margin_stays_as_posted_while_maintenance_rises(tmp_path: Path) -> None:
    [change] = [c for c in run_what_if(tmp_path, POSITIONS, maintMargin="0.009").changes if c.held.account_id == 1]
    assert change.before.margin == change.after.margin
    assert change.after.pos_maint > change.before.pos_maint


def test_other_instruments_are_untouched(tmp_path: Path) -> None:
    [change] = [c for c in run_what_if(tmp_path, POSITIONS, maintMargin="0.009").changes if c.held.symbol == "XBTUSDT"]
    assert change.before == change.after


def test_mark_between_current_and_proposed_liquidation_price_makes_the_position_newly_liquidatable(
    tmp_path: Path,
) -> None:
    first = run_what_if(tmp_path, POSITIONS, maintMargin="0.009")
    [long_50x] = [c for c in first.changes if c.held.account_id == 1]
    assert long_50x.after.liquidation_price - long_50x.before.liquidation_price >= 100  # at least 1 USD apart
    between = (long_50x.before.liquidation_price + long_50x.after.liquidation_price) // 2
    mark = f"{between // 100}.{between % 100:02d}"
    moved = POSITIONS.replace('XBTUSD = "50000"', f'XBTUSD = "{mark}"')
    second = run_what_if(tmp_path, moved, maintMargin="0.009")
    [change] = [c for c in second.changes if c.held.account_id == 1]
    assert (change.before.liquidatable, change.after.liquidatable) == (False, True)


def test_a_newly_liquidatable_position_leaves_the_adl_queue_and_the_next_moves_up(tmp_path: Path) -> None:
    first = run_what_if(tmp_path, POSITIONS, maintMargin="0.009")
    [long_50x] = [c for c in first.changes if c.held.account_id == 1]
    between = (long_50x.before.liquidation_price + long_50x.after.liquidation_price) // 2
    moved = POSITIONS.replace('XBTUSD = "50000"', f'XBTUSD = "{between // 100}.{between % 100:02d}"')
    result = run_what_if(tmp_path, moved, maintMargin="0.009")
    longs = {e.account_id: (e.rank_before, e.rank_after) for e in result.queue if e.symbol == "XBTUSD" and e.side == "long"}
    assert longs[1][1] is None
    assert longs[4][1] == 0
    assert longs[1][0] is not None


def test_cli_json_reports_changed_parameters_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "positions.toml"
    state.write_text(POSITIONS)
    status = main(["what-if", "--params", "XBTUSD", "--set", "maintMargin=0.009", "--state", str(state), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert status == 0
    assert payload["changedParameters"][0] == {"name": "maintMargin", "current": "0.50%", "proposed": "0.90%"}
    assert payload["summary"]["positions"] == 5
    assert payload["summary"]["liquidation_price_changed"] == 4


def test_positions_file_in_json_reads_like_toml(tmp_path: Path) -> None:
    data = {
        "marks": {"XBTUSD": "50000"},
        "accounts": [{"id": 7, "wallet": {"XBt": 1000000}, "positions": [{"symbol": "XBTUSD", "qty": 100, "entry": "50000"}]}],
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(data))
    state = parse_state(read_state_file(path), {"XBTUSD": load_instrument("XBTUSD")}, str(path))
    assert [(p.account_id, p.qty, p.entry_price, p.leverage_hundredths) for p in state.positions] == [(7, 100, 5_000_000, 0)]


def test_quantity_off_the_lot_is_rejected_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(POSITIONS.replace("qty = 20000", "qty = 20050"))
    with pytest.raises(StateError, match=r"accounts\[3\]\.positions\[0\]\.qty"):
        parse_state(read_state_file(path), {s: load_instrument(s) for s in ("XBTUSD", "XBTUSDT")}, str(path))


def test_cli_rejects_a_bad_state_file_with_status_two(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[marks]\nXBTUSD = 'fifty'\n")
    assert main(["what-if", "--params", "XBTUSD", "--state", str(path)]) == 2


def test_engine_snapshot_is_read_with_its_own_cost_basis_and_isolated_margin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from perpspec.engine.core.accounts import Account
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.durability.journal import write_snapshot
    from perpspec.engine.durability.recovery import encode_engine
    from perpspec.rules.contract import compute_value

    exchange = Engine()
    inst = exchange.instrument_map["XBTUSD"]
    exchange.marks["XBTUSD"] = 5_000_000
    for account_id, qty, lev, iso_margin in ((1, 100_000, 5_000, 4_100_000), (2, -100_000, 0, 0)):
        account = Account(account_id)
        account.verified = True
        account.wallets["XBt"] = 100_000_000
        held = account.position(inst)
        held.qty, held.cost, held.leverage, held.iso_margin = qty, compute_value(inst, qty, 5_000_000), lev, iso_margin
        exchange.accounts[account_id] = account
        exchange.holders["XBTUSD"][account_id] = None  # what the fills keep (checked when a snapshot loads)
        exchange.risk.dirty[account_id] = None  # as a fill marks it: the liquidation index is derived from it
    exchange.risk.refresh_index()  # an honest state's index (a snapshot's is rebuilt from its positions on load)
    exchange.ledger.deposits["XBt"] = 200_000_000  # the wallets' money came in (INV-CONSERVATION, checked on load)
    path = tmp_path / "snapshot.bin"
    write_snapshot(str(path), 1, exchange.state_hash().encode(), encode_engine(exchange), bytes(32))
    status = main(["what-if", "--params", "XBTUSD", "--set", "maintMargin=0.008", "--state", str(path), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(p["account"], p["currentQty"], p["leverage"]) for p in payload["positions"]] == [
        (1, 100_000, "50"),
        (2, -100_000, "cross"),
    ]
    assert payload["summary"]["liquidation_price_changed"] == 2


def test_a_file_that_is_neither_positions_nor_snapshot_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(b"not a snapshot")
    assert main(["what-if", "--params", "XBTUSD", "--state", str(path)]) == 2


def test_shipped_example_positions_file_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parent.parent / "specs" / "what_if" / "positions.toml"
    assert main(["what-if", "--params", "XBTUSD", "--set", "maintMargin=0.008", "--state", str(example), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["positions"] == 5
