"""perpspec audit: shipped scenarios' logs audit clean; the schema, mappings and hostile logs; the CLI."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpspec.engine.audit import (
    INTERNAL,
    INVARIANTS,
    RULES,
    Auditor,
    LogError,
    MappingError,
    audit_log,
    audit_rows,
    load_mapping,
    parse_mapping,
)
from perpspec.engine.audit.faults import decode_rows, encode_rows
from perpspec.engine.audit.report import format_text, to_json
from perpspec.engine.cli.main import main
from perpspec.engine.simulation.scenario import builtin_names, load_scenario
from perpspec.engine.simulation.simulate import run_scenario
from perpspec.rules.instrument import Instrument
from perpspec.rules.parse import format_scaled

# every shipped scenario, cut short and with few accounts: the default suite stays fast;
# `-m deep` audits them at a larger size (both ADL policies)
SHORT = (("accounts.count", "30"), ("duration", "150m"), ("market_makers.levels", "2"))
# tiny_crash started at 03:45: its crash straddles the 04:00 funding instant (trades, take-overs, draws, ADL, funding)
TINY_START = ("start", "1583984700000")
SKIP = ("crash_thin_book",)  # a rules.waterfall data scenario (tests/test_crash_scenario.py), not a simulate run


def simulate(tmp: Path, name: str, overrides: tuple[tuple[str, str], ...]) -> tuple[Path, dict[str, Instrument]]:
    scenario = load_scenario(name, list(overrides))
    result = run_scenario(scenario, tmp)
    assert result.invariant_violations == ()
    return Path(result.event_log), {scenario.instrument.symbol: scenario.instrument}


@pytest.fixture(scope="session")
def tiny_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Instrument]]]:
    """tiny_crash with a funding instant in its crash, under both ADL policies (liquidations, draws, ADL)."""
    return {
        policy: simulate(
            tmp_path_factory.mktemp(f"tiny-{policy}"), "tiny_crash", (TINY_START, ("adl.policy", policy))
        )
        for policy in ("queue", "pro-rata")
    }


def scenario_names() -> list[str]:
    return [name for name in builtin_names() if name not in SKIP]


@pytest.mark.parametrize("policy", ["queue", "pro-rata"])
@pytest.mark.parametrize("level", [INVARIANTS, RULES])
def test_tiny_crash_log_audits_clean(tiny_logs: Any, policy: str, level: str) -> None:
    log, instruments = tiny_logs[policy]
    result = audit_log(log, load_mapping("perpspec"), instruments, level)
    assert [f.one_line() for f in result.findings] == []
    assert result.error is None
    assert result.clean
    assert min(result.records["adl"], result.records["liquidation"], result.records["funding"]) > 0


@pytest.mark.parametrize("name", scenario_names())
def test_every_shipped_scenario_log_audits_clean_at_both_levels(tmp_path: Path, name: str) -> None:
    # the March-2020 populations enter over 10 h and again late on 12 March: within the short run instead
    entry = (("accounts.entry", "60m"), ("accounts.late_share", "0")) if name.startswith("march_2020") else ()
    log, instruments = simulate(tmp_path, name, SHORT + entry)
    for level in (INVARIANTS, RULES):
        result = audit_log(log, load_mapping("perpspec"), instruments, level)
        assert [f.one_line() for f in result.findings] == []
        assert result.clean


@pytest.mark.deep
@pytest.mark.parametrize("policy", ["queue", "pro-rata"])
@pytest.mark.parametrize("name", scenario_names())
def test_every_shipped_scenario_log_audits_clean_at_a_larger_size(tmp_path: Path, name: str, policy: str) -> None:
    log, instruments = simulate(tmp_path, name, (("accounts.count", "300"), ("adl.policy", policy)))
    for level in (INVARIANTS, RULES):
        assert audit_log(log, load_mapping("perpspec"), instruments, level).clean


# -- hostile logs: one error naming the line and the field, never a traceback ------------------------------


def audit_text(tmp_path: Path, text: str | bytes, instruments: dict[str, Instrument]) -> Any:
    log = tmp_path / "hostile.jsonl"
    if isinstance(text, bytes):
        log.write_bytes(text)
    else:
        log.write_text(text)
    return audit_log(log, load_mapping("perpspec"), instruments, RULES)


def first_lines(tiny_logs: Any, count: int) -> tuple[list[dict[str, Any]], dict[str, Instrument]]:
    log, instruments = tiny_logs["queue"]
    with log.open() as handle:
        lines = [next(handle) for _ in range(count)]
    return decode_rows(lines), instruments


TRADE = {"table": "execution", "execType": "Trade", "seq": 1, "timestamp": "t", "account": 1, "symbol": "XBTUSD",
         "side": "Buy", "lastQty": 100, "lastPx": 8000, "execComm": 0}
HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**45), max_value=10**45),
    st.text(max_size=8), st.sampled_from(["1e30", "-0.5", "7954.25", "NaN", ""]), st.just([]), st.just({}),
    st.just([[1, 2]]), st.just([{"symbol": "XBTUSD"}]),
)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ('{"table":"execution"', 1, "", "truncated last line"),
        ("[1, 2]\n", 1, "", "must be a JSON object"),
        ("{nope}\n", 1, "", "not valid JSON"),
        (b'{"table":"\xff"}\n', 1, "", "not UTF-8"),
        ('{"table":"mystery"}\n', 1, "", "unknown kind"),
        (json.dumps({**TRADE, "lastQty": "many"}) + "\n", 1, "lastQty", "expected a number"),
        (json.dumps({**TRADE, "lastQty": True}) + "\n", 1, "lastQty", "expected a number"),
        (json.dumps({**TRADE, "lastQty": 1.5}) + "\n", 1, "lastQty", "not a whole number"),
        (json.dumps({**TRADE, "lastPx": 8000.123}) + "\n", 1, "lastPx", "not a whole number"),
        (json.dumps({**TRADE, "lastPx": -5}) + "\n", 1, "lastPx", "must be positive"),
        (json.dumps({**TRADE, "lastPx": 0}) + "\n", 1, "lastPx", "must be positive"),
        (json.dumps({**TRADE, "lastQty": 150}) + "\n", 1, "lastQty", "number of lots"),
        (json.dumps({**TRADE, "side": "Up"}) + "\n", 1, "side", "Buy or Sell"),
        (json.dumps({**TRADE, "symbol": "DOGEUSD"}) + "\n", 1, "symbol", "unknown instrument"),
        (json.dumps({k: v for k, v in TRADE.items() if k != "execComm"}) + "\n", 1, "execComm", "missing"),
        ('{"table":"execution","execType":"Trade","lastQty":' + "9" * 5000 + "}\n", 1, "", "out of range"),
        (json.dumps({**TRADE, "lastQty": "1e400"}) + "\n", 1, "lastQty", "out of range"),
        (json.dumps({**TRADE, "lastQty": "1e" + "9" * 5000}) + "\n", 1, "lastQty", "out of range"),
        (json.dumps({**TRADE, "lastQty": 0}).replace('"lastQty": 0', '"lastQty": 1e' + "9" * 5000) + "\n", 1,
         "lastQty", "out of range"),
        ('{"table":"execution","execType":"Trade","lastQty":NaN}\n', 1, "", "not valid JSON"),
        ("\n" + json.dumps({**TRADE, "execComm": None}) + "\n", 2, "execComm", "missing"),
    ],
)
def test_hostile_log_gives_one_line_error_with_line_and_field(
    tmp_path: Path, tiny_logs: Any, text: str | bytes, line: int, field: str, words: str
) -> None:
    _, instruments = tiny_logs["queue"]
    result = audit_text(tmp_path, text, instruments)
    assert result.error is not None
    assert (result.error.line, result.error.field) == (line, field)
    assert words in result.error.message
    assert "\n" not in str(result.error)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_field_of_any_row_replaced_by_junk_never_raises(tiny_logs: Any, data: st.DataObject) -> None:
    """Hostile values anywhere (the waterfall's records included): a finding or a LogError, never an exception."""
    rows, instruments = waterfall_rows(tiny_logs)
    rows = [dict(row) for row in rows]
    records = [i for i, row in enumerate(rows) if row.get("table") in ("rule", "execution", "position")]
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.sampled_from(records))
        field = data.draw(st.sampled_from(sorted(rows[index])))
        inner = rows[index][field]
        if isinstance(inner, list) and inner and isinstance(inner[0], dict) and data.draw(st.booleans()):
            item = dict(inner[0])
            item[data.draw(st.sampled_from(sorted(item)))] = data.draw(HOSTILE_VALUES)
            rows[index][field] = [item, *inner[1:]]
        else:
            rows[index][field] = data.draw(HOSTILE_VALUES)
    for level in (INVARIANTS, RULES):
        result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, level)
        assert result.error is None or str(result.error).startswith("line ")
        assert result.error is None or INTERNAL not in result.error.message


def test_zero_negative_or_huge_waterfall_inputs_never_raise(tiny_logs: Any) -> None:
    """Every integer field of a take-over, a close-out fill, an ADL fill and a fund movement (divisors included)."""
    log, instruments = tiny_logs["queue"]
    rows = decode_rows(log.read_text().splitlines())
    first_liquidation = next(i for i, row in enumerate(rows) if row.get("kind") == "Liquidation")
    first_adl = next(i for i, row in enumerate(rows) if row.get("kind") == "AdlFill")
    rows = rows[: first_adl + 10]
    targets: dict[str, int] = {}
    for index, row in enumerate(rows[first_liquidation:], first_liquidation):
        if row.get("table") == "rule" and row.get("kind") not in targets:
            targets[row["kind"]] = index
    assert {"Liquidation", "LiquidationFill", "AdlFill", "residual", "surplus", "draw"} <= set(targets)
    for level in (INVARIANTS, RULES):
        for kind, index in sorted(targets.items()):
            before = Auditor(instruments, load_mapping("perpspec"), level)
            for line, row in enumerate(rows[:index], 1):
                before.feed(row, line)
            for field, original in sorted(rows[index].items()):
                if not isinstance(original, int) or isinstance(original, bool) or field == "seq":
                    continue
                for value in (0, -1, 10**30):
                    auditor = copy.deepcopy(before)
                    refused_at = None
                    try:
                        auditor.feed({**rows[index], field: value}, index + 1)
                        for line, row in enumerate(rows[index + 1 :], index + 2):
                            auditor.feed(row, line)
                        auditor.finish()
                    except LogError as error:  # refused where the junk is, or not at all
                        refused_at = error.line  # (any other exception fails the test)
                    assert refused_at in (None, index + 1), (kind, field, value)


WATERFALL: list[Any] = []


def waterfall_rows(tiny_logs: Any) -> tuple[list[dict[str, Any]], dict[str, Instrument]]:
    """The rows around the first liquidations and ADL fills of the tiny crash (trades, take-overs, draws, ADL)."""
    log, instruments = tiny_logs["queue"]
    if not WATERFALL:
        rows = decode_rows(log.read_text().splitlines())
        first = next(i for i, row in enumerate(rows) if row.get("kind") == "Liquidation")
        WATERFALL.append(rows[: first + 250])
    return WATERFALL[0], instruments


def test_a_log_cut_mid_line_names_the_last_line(tmp_path: Path, tiny_logs: Any) -> None:
    log, instruments = tiny_logs["queue"]
    text = log.read_text()
    cut = text[: len(text) // 2]
    result = audit_text(tmp_path, cut, instruments)
    assert result.error is not None
    assert result.error.line == cut.count("\n") + 1
    assert "truncated" in result.error.message


def test_an_insurance_residual_with_no_liquidation_is_refused(tmp_path: Path, tiny_logs: Any) -> None:
    _, instruments = tiny_logs["queue"]
    row = {"table": "rule", "kind": "residual", "timestamp": "t", "currency": "XBt", "amount": 5}
    result = audit_text(tmp_path, json.dumps(row) + "\n", instruments)
    assert result.error is not None
    assert result.error.field == "kind"


def test_audit_rows_round_trip_of_the_log_is_clean(tiny_logs: Any) -> None:
    log, instruments = tiny_logs["queue"]
    rows = decode_rows(log.read_text().splitlines())
    again = decode_rows(encode_rows(rows).splitlines())
    assert again == rows
    assert audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, RULES).clean


# -- mappings ------------------------------------------------------------------------------------------------


VENUE_MAPPING = """
name = "toyvenue"
prices = "quote"
rename = { ts = "timestamp" }

[[kind]]
when = { type = "fill" }
as = "execution"
rename = { acct = "account", sym = "symbol", dir = "side", qty = "lastQty", px = "lastPx", fee = "execComm" }
scale = { execComm = 100000000 }

[[kind]]
when = { type = "deposit" }
as = "transaction"
rename = { acct = "account", ccy = "currency", kind = "transactType", amt = "amount" }
scale = { amount = 100000000 }

[[kind]]
when = { type = "end" }
as = "end"
"""


def test_a_toml_mapping_renames_scales_and_maps_kinds_without_code(tiny_logs: Any) -> None:
    _, instruments = tiny_logs["queue"]
    import tomllib

    mapping = parse_mapping(tomllib.loads(VENUE_MAPPING), "venue.toml")
    rows = [
        {"type": "deposit", "ts": 1, "acct": 1, "ccy": "XBt", "kind": "Deposit", "amt": "1.5"},
        {"type": "deposit", "ts": 1, "acct": 2, "ccy": "XBt", "kind": "Deposit", "amt": "1.5"},
        {"type": "end", "ts": 1},
        {"type": "fill", "ts": 2, "acct": 1, "sym": "XBTUSD", "dir": "Buy", "qty": 100, "px": "8000.5", "fee": "0"},
        {"type": "fill", "ts": 2, "acct": 2, "sym": "XBTUSD", "dir": "Sell", "qty": 100, "px": "8000.5", "fee": "0"},
    ]
    decoded = decode_rows([json.dumps(row) for row in rows])
    assert audit_rows(enumerate(decoded, 1), mapping, instruments, INVARIANTS).clean
    one_sided = decoded[:-1]
    result = audit_rows(enumerate(one_sided, 1), mapping, instruments, INVARIANTS)
    assert [(f.id, f.line) for f in result.findings] == [("INV-OI-BALANCE", 4), ("INV-CONSERVATION", 4)]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kind = 3", "at least one [[kind]]"),
        ("kind = [3]", "must be a table"),
        ('[[kind]]\nas = "nonsense"', "'as' must be one of"),
        ('[[kind]]\nas = "execution"\nscale = { execComm = 0 }', "non-zero integer factor"),
        ('[[kind]]\nas = "execution"\nprices = "cents"', "prices must be"),
        ('surprise = 1\n[[kind]]\nas = "end"', "unknown key 'surprise'"),
        ("name = 'x'", "at least one [[kind]]"),
    ],
)
def test_a_bad_mapping_is_one_clear_error(text: str, words: str) -> None:
    import tomllib

    with pytest.raises(MappingError, match=r"venue\.toml") as caught:
        parse_mapping(tomllib.loads(text), "venue.toml")
    assert words in str(caught.value)


def test_a_mapping_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("this is [not toml")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(str(path))


# -- output and the command line ------------------------------------------------------------------------------


def test_cli_exit_status_is_zero_only_when_clean(tiny_logs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    log, _ = tiny_logs["queue"]
    assert main(["audit", str(log), "--rules", "--scenario", "tiny_crash", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "verdict: CLEAN" in out


def test_cli_json_on_a_missing_log_prints_a_document_saying_so(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """redteam23 (noticed): `audit --json` on a missing file printed nothing on stdout."""
    assert main(["audit", str(tmp_path / "missing.jsonl"), "--json", "--quiet"]) == 2
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["clean"] is False
    assert document["error"]["message"] == "no such file"
    assert "no such file" in captured.err


def test_cli_json_reports_findings_with_rule_links(
    tmp_path: Path, tiny_logs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    log, _ = tiny_logs["queue"]
    rows = decode_rows(log.read_text().splitlines())
    index = next(i for i, r in enumerate(rows) if r.get("execType") == "Trade" and r["execComm"] > 0)
    rows[index] = {**rows[index], "execComm": rows[index]["execComm"] + 1}
    faulty = tmp_path / "faulty.jsonl"
    faulty.write_text(encode_rows(rows))
    assert main(["audit", str(faulty), "--rules", "--scenario", "tiny_crash", "--json", "--quiet"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["clean"] is False
    first = document["findings"][0]
    assert (first["id"], first["line"], first["link"]) == ("ACC-002", index + 1, "specs/contracts.md#acc-002")
    assert int(first["reported"]) == rows[index]["execComm"]
    assert document["summary"][0]["id"] == "ACC-002"


def test_cli_unreadable_log_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "x.jsonl"
    log.write_text('{"table":"execution","execType":"Trade","symbol":"XBTUSD"}\n')
    assert main(["audit", str(log), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "line 1, field account: missing" in err[0]


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_cli_empty_log_is_unreadable_not_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text(text)
    assert main(["audit", str(log), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no rows" in err[0]


def test_cli_bad_mapping_and_missing_log_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(tmp_path / "none.jsonl")]) == 2
    assert main(["audit", str(tmp_path / "none.jsonl"), "--mapping", str(tmp_path / "none.toml")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err
    assert "Traceback" not in err


def test_text_report_has_summary_table_and_first_offending_event(tiny_logs: Any) -> None:
    log, instruments = tiny_logs["queue"]
    rows = decode_rows(log.read_text().splitlines())
    index = next(i for i, r in enumerate(rows) if r.get("execType") == "Trade" and r["execComm"] > 0)
    rows[index] = {**rows[index], "execComm": rows[index]["execComm"] - 1}
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, RULES)
    text = format_text(result, "faulty.jsonl")
    assert f"line {index + 1} (seq {rows[index]['seq']}) ACC-002 execution" in text
    assert "specs/contracts.md#acc-002" in text
    assert "verdict: FINDINGS" in text
    assert to_json(result, "faulty.jsonl")["summary"][0]["first_line"] == index + 1


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path: Path, tiny_logs: Any) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed: test_parquet_log_audits_like_its_jsonl covers Parquet")
    log = tmp_path / "x.parquet"
    log.write_bytes(b"PAR1")
    result = audit_log(log, load_mapping("perpspec"), tiny_logs["queue"][1], INVARIANTS)
    assert result.error is not None
    assert "pyarrow" in result.error.message


def test_parquet_log_audits_like_its_jsonl(tmp_path: Path, tiny_logs: Any) -> None:
    arrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    log, instruments = tiny_logs["queue"]
    rows = [json.loads(line) for line in log.read_text().splitlines()]  # decimals as floats, as a venue's would be
    table = arrow.Table.from_struct_array(arrow.array(rows))  # one schema: the union of every row's fields
    path = tmp_path / "events.parquet"
    parquet.write_table(table, str(path))
    for level in (INVARIANTS, RULES):
        result = audit_log(path, load_mapping("perpspec"), instruments, level)
        assert result.error is None
        assert result.clean
        assert result.rows == len(rows)
    drop = next(index for index, row in enumerate(rows) if row.get("execType") == "Trade")
    broken = [row for index, row in enumerate(rows) if index != drop]
    parquet.write_table(arrow.Table.from_struct_array(arrow.array(broken)), str(path))
    plain = audit_rows(enumerate(decode_rows([json.dumps(row) for row in broken]), 1), load_mapping("perpspec"),
                       instruments, RULES)
    assert plain.findings
    assert [f.to_json() for f in audit_log(path, load_mapping("perpspec"), instruments, RULES).findings] == [
        f.to_json() for f in plain.findings
    ]


def test_log_error_names_line_and_field() -> None:
    assert str(LogError(12, "lastPx", "expected a number")) == "line 12, field lastPx: expected a number"


# -- the shipped BitMEX mapping: API rows exported one per line with their WebSocket table ------------------


def bitmex_rows() -> list[dict[str, Any]]:
    """Two accounts trade 1,000 XBTUSD at 50,000.5, pay taker and maker fees, then a funding instant."""
    t0, t1, t2 = "2026-11-25T12:00:00.000Z", "2026-11-25T12:00:01.000Z", "2026-11-25T20:00:00.000Z"
    trade = {"table": "execution", "execType": "Trade", "symbol": "XBTUSD", "lastQty": 1000, "lastPx": 50000.5,
             "timestamp": t1, "settlCurrency": "XBt", "currency": "USD", "trdMatchID": "m1"}
    return [
        {"table": "transact", "transactType": "Deposit", "account": 1, "currency": "XBt", "amount": 100_000_000,
         "timestamp": t0},
        {"table": "transact", "transactType": "Deposit", "account": 2, "currency": "XBt", "amount": 100_000_000,
         "timestamp": t0},
        {"table": "instrument", "symbol": "XBTUSD", "markPrice": 50001.2, "timestamp": t0},
        {"table": "instrument", "symbol": "XBTUSD", "lastPrice": 50000.5, "timestamp": t0},  # no mark: no change
        {**trade, "account": 1, "side": "Buy", "execComm": 1500, "lastLiquidityInd": "RemovedLiquidity"},
        {**trade, "account": 2, "side": "Sell", "execComm": -200, "lastLiquidityInd": "AddedLiquidity"},
        {"table": "position", "account": 1, "symbol": "XBTUSD", "currentQty": 1000, "posCost": -1999980,
         "timestamp": t1},
        {"table": "transact", "transactType": "RealisedPNL", "account": 1, "currency": "XBt", "amount": -1500,
         "timestamp": t1},
        {"table": "execution", "execType": "Funding", "account": 1, "symbol": "XBTUSD", "execComm": 200,
         "settlCurrency": "XBt", "timestamp": t2},
        {"table": "execution", "execType": "Funding", "account": 2, "symbol": "XBTUSD", "execComm": -200,
         "settlCurrency": "XBt", "timestamp": t2},
        {"table": "funding", "symbol": "XBTUSD", "fundingRate": 0.0001, "timestamp": t2},
    ]


def test_the_bitmex_mapping_reads_bitmex_api_rows(tiny_logs: Any) -> None:
    _, instruments = tiny_logs["queue"]
    xbtusd = {"XBTUSD": instruments["XBTUSD"]}
    rows = decode_rows([json.dumps(row) for row in bitmex_rows()])
    result = audit_rows(enumerate(rows, 1), load_mapping("bitmex"), xbtusd, INVARIANTS)
    assert [f.one_line() for f in result.findings] == []
    assert result.records == {"execution": 2, "transaction": 4, "position": 1, "mark": 2, "funding": 1, "ignore": 1}
    one_way = [row for row in rows if not (row.get("execType") == "Funding" and row["account"] == 2)]
    result = audit_rows(enumerate(one_way, 1), load_mapping("bitmex"), xbtusd, INVARIANTS)
    assert ("INV-FUNDING-ZERO-SUM", 9) in [(f.id, f.line) for f in result.findings]


def test_a_bug_of_the_audit_is_still_one_line_naming_itself(tiny_logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    log, instruments = tiny_logs["queue"]

    def broken(self: Any, record: dict[str, Any]) -> None:
        raise KeyError("planted")

    monkeypatch.setattr(Auditor, "on_mark", broken)
    result = audit_log(log, load_mapping("perpspec"), instruments, INVARIANTS)
    assert result.error is not None
    assert INTERNAL in result.error.message
    assert "KeyError" in str(result.error)
    assert str(result.error).startswith("line ")


# -- perpspec's engine driven command by command (partial liquidation, take-over, ADL on a quanto) -----------


def engine_log(commands: list[Any], instruments: dict[str, Instrument]) -> list[dict[str, Any]]:
    """The log ``perpspec simulate`` would write for ``commands`` run through a fresh engine."""
    from perpspec.engine.core.exchange import Engine
    from perpspec.engine.simulation.eventlog import encode_json, event_records
    from perpspec.engine.simulation.result import Tally

    engine = Engine(instruments)
    (inst,) = instruments.values()
    tally, pending = Tally(), dict[int, int]()
    lines = []
    for command in commands:
        for event in engine.process(command):
            lines += [encode_json(row) for row in event_records(inst, event, tally, pending)]
    return decode_rows(lines)


def ethusd_long(extra: list[Any]) -> tuple[list[Any], dict[str, Instrument]]:
    """tests/test_engine_liquidation.py's set-up: a long one risk step above the base limit, then ``extra``."""
    from perpspec.engine.core import commands as c
    from perpspec.rules.instrument_file import load_instrument

    eth = load_instrument("ETHUSD")
    xbt = 100_000_000
    commands: list[Any] = [c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=300_000, index_price=300_000)]
    for account, amount in ((1, 3 * xbt), (2, 1_000 * xbt)):
        commands += [c.VerifyAccount(time_ms=0, account=account),
                     c.Deposit(time_ms=0, account=account, asset="XBt", amount=amount)]
    for account, steps in ((1, 1), (2, 4)):
        limit = eth.risk_limit + steps * eth.risk_step
        commands.append(c.SetRiskLimit(time_ms=0, account=account, symbol="ETHUSD", risk_limit=limit))
    commands += [
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Sell", order_qty=25_000, price=300_000),
        c.PlaceOrder(time_ms=0, account=1, symbol="ETHUSD", side="Buy", order_qty=25_000, price=300_000),
        *extra,
    ]
    return commands, {"ETHUSD": eth}


def test_a_partial_liquidation_through_the_engine_audits_clean_and_its_mark_is_checked() -> None:
    from perpspec.engine.core import commands as c

    commands, instruments = ethusd_long([
        c.PlaceOrder(time_ms=0, account=2, symbol="ETHUSD", side="Buy", order_qty=20_000, price=294_000),
        c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000),
    ])
    rows = engine_log(commands, instruments)
    result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, RULES)
    assert [f.one_line() for f in result.findings] == []
    assert result.records["partial_liquidation"] == 1
    index = next(i for i, row in enumerate(rows) if row.get("kind") == "PartialLiquidation")
    faulty = [*rows[:index], {**rows[index], "mark_price": 300_000}, *rows[index + 1 :]]  # judged before the fall
    result = audit_rows(enumerate(faulty, 1), load_mapping("perpspec"), instruments, INVARIANTS)
    assert ("INV-NO-FALSE-LIQUIDATION", index + 1) in [(f.id, f.line) for f in result.findings]


def test_a_take_over_and_adl_of_a_quanto_through_the_engine_audit_clean() -> None:
    from perpspec.engine.core import commands as c

    commands, instruments = ethusd_long([
        c.PriceUpdate(time_ms=0, symbol="ETHUSD", mark_price=294_000, index_price=294_000),
        c.PriceUpdate(time_ms=1, symbol="ETHUSD", mark_price=270_000, index_price=270_000),
    ])
    rows = engine_log(commands, instruments)
    for level in (INVARIANTS, RULES):
        result = audit_rows(enumerate(rows, 1), load_mapping("perpspec"), instruments, level)
        assert [f.one_line() for f in result.findings] == []
        assert result.records["liquidation"] == 1
        assert result.records["adl"] >= 1


def test_the_readme_venue_mapping_reads_a_venue_log(tiny_logs: Any) -> None:
    import tomllib

    _, instruments = tiny_logs["queue"]
    readme = (Path(__file__).parent.parent / "engine" / "audit" / "README.md").read_text()
    text = readme.split("<!-- venue-mapping -->\n```toml\n", 1)[1].split("```\n<!-- /venue-mapping -->", 1)[0]
    mapping = parse_mapping(tomllib.loads(text), "ci/venue-mapping.toml")
    fill = {"type": "fill", "ts": 5, "sym": "XBTUSD", "qty": 200, "px": 50000.5, "fee": 0}
    rows = decode_rows([json.dumps(row) for row in (
        {**fill, "acct": 7, "dir": "Buy"}, {**fill, "acct": 8, "dir": "Sell"}, {"type": "end_of_command", "ts": 5},
    )])
    assert audit_rows(enumerate(rows, 1), mapping, instruments, INVARIANTS).clean
    result = audit_rows(enumerate(rows[1:], 1), mapping, instruments, INVARIANTS)
    assert ("INV-OI-BALANCE", 1) in [(f.id, f.line) for f in result.findings]


def test_bitmex_position_margin_fields_are_recomputed_at_rules_level(tiny_logs: Any) -> None:
    from perpspec.rules.contract import compute_value
    from perpspec.rules.margin import compute_position_margin
    from perpspec.rules.position import Position

    _, instruments = tiny_logs["queue"]
    xbtusd = instruments["XBTUSD"]
    position = Position(qty=1000, cost=compute_value(xbtusd, 1000, 5_000_050))
    fields = compute_position_margin(xbtusd, position, 5_000_120, 1_000)  # isolated 10x at mark 50,001.2
    row = {
        "table": "position", "account": 1, "symbol": "XBTUSD", "currentQty": 1000, "posCost": position.cost,
        "leverage": 10, "crossMargin": False, "posMargin": fields.pos_margin, "riskLimit": xbtusd.risk_limit,
        "markPrice": 50001.2, "markValue": fields.mark_value, "unrealisedPnl": fields.unrealised_pnl,
        "liquidationPrice": format_scaled(fields.liquidation_price, xbtusd.price_scale),
        "bankruptPrice": format_scaled(fields.bankrupt_price, xbtusd.price_scale),
        "timestamp": "2026-11-25T12:00:01.000Z",
    }
    base = [r for r in bitmex_rows() if r["table"] != "position"][:6]

    def audit(position_row: dict[str, Any]) -> list[tuple[str, int]]:
        lines = [json.dumps(r) for r in base] + [json.dumps(position_row).replace('"@', "").replace('@"', "")]
        rows = decode_rows(lines)
        result = audit_rows(enumerate(rows, 1), load_mapping("bitmex"), {"XBTUSD": xbtusd}, RULES)
        return [(f.id, f.line) for f in result.findings if f.id != "ACC-002"]

    as_number = {k: (f"@{v}@" if k in ("liquidationPrice", "bankruptPrice") else v) for k, v in row.items()}
    assert audit(as_number) == []
    tick = format_scaled(fields.liquidation_price + xbtusd.tick_size, xbtusd.price_scale)
    assert audit({**as_number, "liquidationPrice": f"@{tick}@"}) == [("MRG-011", 7)]
    assert audit({**as_number, "unrealisedPnl": fields.unrealised_pnl + 1}) == [("ACC-001", 7)]
    assert audit({**as_number, "crossMargin": True, "liquidationPrice": f"@{tick}@"}) == []  # cross: not in one row


def test_the_bitmex_mapping_reads_a_websocket_recording(tiny_logs: Any) -> None:
    _, instruments = tiny_logs["queue"]
    xbtusd = {"XBTUSD": instruments["XBTUSD"]}
    flat = bitmex_rows()
    messages: list[dict[str, Any]] = [
        {"info": "Welcome to the BitMEX Realtime API.", "version": "2026-11-25", "limit": {"remaining": 39}},
        {"success": True, "subscribe": "execution"},
        {"table": "execution", "action": "partial", "keys": ["execID"], "data": [
            {**flat[4], "table": "execution"},  # history: already in the positions
        ]},
    ]
    for table, group in itertools.groupby(flat, key=lambda row: row["table"]):
        messages.append({"table": table, "action": "insert", "data": [
            {k: v for k, v in row.items() if k != "table"} for row in group
        ]})
    messages.append({"table": "position", "action": "update", "data": [{"account": 1, "symbol": "XBTUSD",
                                                                          "markPrice": 50002.5}]})
    rows = decode_rows([json.dumps(message) for message in messages])
    result = audit_rows(enumerate(rows, 1), load_mapping("bitmex"), xbtusd, INVARIANTS)
    assert [f.one_line() for f in result.findings] == []
    assert result.error is None
    assert result.records["execution"] == 2
    assert result.records["funding"] == 1
    error = {"error": "Not authenticated", "request": {"op": "subscribe"}}
    rows = decode_rows([json.dumps(error)])
    assert audit_rows(enumerate(rows, 1), load_mapping("bitmex"), xbtusd, INVARIANTS).error is not None
