"""``perpspec export`` and ``perpspec dump-journal`` on a small run: exact values, every row, every command."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from perpspec.engine.cli.main import main
from perpspec.engine.simulation.explain import format_money
from perpspec.engine.simulation.export import (
    compute_decimal_places,
    export_events,
    get_column_kind,
    read_event_rows,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["simulate", "tiny_crash", "--quiet", "--out", str(out), "--set", "accounts.count=20"]) in (0, 1)
    return out


def test_a_column_with_a_missing_value_stays_integer() -> None:
    assert get_column_kind([1, None, 3]) == "int"


def test_a_column_mixing_integers_and_decimals_is_decimal_with_the_finest_places() -> None:
    values = [Decimal("7217.5"), 7200, Decimal("0.25")]
    assert (get_column_kind(values), compute_decimal_places(values)) == ("decimal", 2)


def test_csv_export_has_every_row_of_every_table_with_exact_text(run_dir: Path, tmp_path: Path) -> None:
    rows = list(read_event_rows(run_dir / "events.jsonl"))
    written = export_events(run_dir / "events.jsonl", tmp_path, "csv")
    exported = {}
    for path in written:
        with path.open() as handle:
            exported[path.stem] = list(csv.DictReader(handle))
    assert sum(len(table) for table in exported.values()) == len(rows)
    insurance = [row for row in rows if row["table"] == "insurance"]
    assert [int(row["walletBalance"]) for row in exported["insurance"]] == [row["walletBalance"] for row in insurance]


def test_parquet_export_keeps_money_as_int64_and_prices_as_exact_decimals(run_dir: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    export_events(run_dir / "events.jsonl", tmp_path, "parquet")
    table = pq.read_table(tmp_path / "execution.parquet")
    rows = [row for row in read_event_rows(run_dir / "events.jsonl") if row["table"] == "execution"]
    assert str(table.schema.field("execComm").type) == "int64"
    assert table.column("execComm").to_pylist() == [row.get("execComm") for row in rows]
    assert table.column("lastPx").to_pylist() == [None if row.get("lastPx") is None else Decimal(row["lastPx"]) for row in rows]


def test_dump_journal_prints_every_command_in_order(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump-journal", str(run_dir / "journal")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [line["seq"] for line in lines] == list(range(1, summary["commands"] + 1))
    assert lines[0]["type"] == "DepositInsurance"


def test_simulate_leaves_a_final_snapshot_that_what_if_reads(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshots = sorted((run_dir / "journal").glob("snapshot-*.snap"))
    assert len(snapshots) == 1
    assert main(["what-if", "--params", "XBTUSD", "--set", "maintMargin=0.008", "--state", str(snapshots[0])]) == 0
    assert "positions:" in capsys.readouterr().out


def test_explain_tells_a_liquidated_accounts_story_with_rule_ids(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(read_event_rows(run_dir / "events.jsonl"))
    liquidated = next(row["account"] for row in rows if row["table"] == "liquidation")
    assert main(["explain", str(run_dir), "--account", str(liquidated)]) == 0
    story = capsys.readouterr().out
    assert ("Before the stress:" in story, "liquidated (" in story, "(LIQ-023)" in story) == (True, True, True)


def test_explain_names_an_adl_counterpartys_haircut(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = list(read_event_rows(run_dir / "events.jsonl"))
    fill = next((row for row in rows if row.get("execType") == "Deleverage"), None)
    if fill is None:
        pytest.skip("no ADL in this small run")
    assert main(["explain", str(run_dir), "--account", str(fill["account"])]) == 0
    assert f"haircut {format_money(fill['haircut'], 100_000_000, 'XBt')}," in capsys.readouterr().out


def test_dump_journal_writes_a_command_nested_in_a_field_as_its_repr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile field holding a command is journaled as it came; dump-journal shows it as its repr, as promised,
    not as the bare JSON list a NamedTuple would otherwise become."""
    from perpspec.engine.core import commands as c
    from perpspec.engine.core.events import Rejected
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.durability.recovery import DurableExchange, command_codec

    nested = c.CancelAll(time_ms=0, account=1)
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    events = durable.submit(c.PlaceOrder(time_ms=0, account=1, symbol=nested, side="Buy", order_qty=1))  # type: ignore[arg-type]
    durable.close()
    assert type(events[-1]) is Rejected
    assert main(["dump-journal", str(tmp_path)]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["type"], line["symbol"], line["order_qty"]) == ("PlaceOrder", repr(nested), 1)


def test_dump_journal_lists_a_record_of_no_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """review12_3: a command of the wrong width is journaled as no command; dump-journal listed it by calling
    ``_asdict`` on the decoded stand-in and died (exit 70).  Now it prints it as received, and the rest."""
    from perpspec.engine.core import commands as c
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.durability.recovery import DurableExchange, command_codec

    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    durable.submit(tuple.__new__(c.TimeTick, [5, 6]))
    durable.submit(object())
    durable.submit(c.TimeTick(time_ms=7))
    durable.close()
    assert main(["dump-journal", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["seq"], line["type"]) for line in lines] == [(1, None), (2, None), (3, "TimeTick")]
    assert lines[0]["received"] == "<unrepresentable TimeTick: TypeError>"  # the codec's shown text of it
    assert lines[1]["received"].startswith("<object object at ")
    assert lines[2]["time_ms"] == 7


def test_dump_journal_prints_every_hostile_value_recovery_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """review13_5: values the journal keeps exactly (and recovery replays) made ``json.dumps`` raise: a dict with
    a tuple key, a list nested 3,000 deep, a list holding itself, an int of 5,000 digits.  Each is now written as
    the text a reject shows of it; JSON scalars stay themselves."""
    from perpspec.engine.core import commands as c
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.core.rejects import show
    from perpspec.engine.durability.recovery import DurableExchange, command_codec

    deep: list[object] = []
    for _ in range(3_000):
        deep = [deep]
    looped: list[object] = []
    looped.append(looped)
    hostile: list[object] = [{(1, 2): 3}, deep, looped, 10**5_000, float("nan")]
    durable, _ = DurableExchange.open(str(tmp_path), command_codec(), Engine)
    for value in hostile:
        durable.submit(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, cl_ord_id=value))  # type: ignore[arg-type]
    durable.submit(c.PlaceOrder(time_ms=0, account=1, symbol="XBTUSD", side="Buy", order_qty=100, cl_ord_id="plain"))
    durable.close()
    assert main(["dump-journal", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["cl_ord_id"] for line in lines] == [show(value) for value in hostile] + ["plain"]
    assert lines[-1]["order_qty"] == 100
