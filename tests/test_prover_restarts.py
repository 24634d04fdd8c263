"""The prover's budgets: restarts with new seeds, and the linear abstraction's share of a query's budget."""

from __future__ import annotations

from perpspec.proofs.prover import RESTART_FIRST_RLIMIT, restart_budgets, timeout_override


def test_restarts_double_from_the_first_budget_then_spend_the_whole_budget_once() -> None:
    assert restart_budgets(50_000_000) == [RESTART_FIRST_RLIMIT, 50_000_000]
    assert restart_budgets(150_000_000, first=20_000_000) == [20_000_000, 40_000_000, 80_000_000, 150_000_000]
    assert restart_budgets(10_000_000, first=20_000_000) == [10_000_000]  # a small budget: one attempt
    for total in (1, 19_999_999, 20_000_000, 50_000_000, 150_000_000, 300_000_000, 10**10):
        budgets = restart_budgets(total)
        assert budgets[-1] == total
        assert sum(budgets) <= 2 * total  # at most what two whole attempts cost


def test_the_isolated_liq_044_fill_is_decided_on_its_linear_abstraction_at_its_declared_timeout() -> None:
    # At a flat 1 M units the abstraction stopped just short (it needs about 1.05 M) and the query fell
    # through to a nonlinear search of 9 s to past 200 s (once `unknown`); at the obligation's 60 s it gets 3 M.
    from perpspec.proofs.obligations_solvency import prove_accepted_fill_keeps_equity
    from perpspec.proofs.obligations_waterfall import SLOW_TIMEOUT_MS

    with timeout_override(SLOW_TIMEOUT_MS):
        for symbol in ("ETHUSD", "XBTUSDT"):
            result = prove_accepted_fill_keeps_equity(symbol, 10_000)
            assert result.proved, result
            assert "2 of 2 queries on the linear abstraction" in result.detail, result.detail
