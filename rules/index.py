"""IDX: the index price — a weighted average of spot prices that one bad feed cannot capture.

The index of an instrument (BitMEX ``.BXBT`` for XBTUSD) is the weighted
average of the last prices of its **constituents** (spot exchanges, BitMEX
``/instrument/compositeIndex`` rows with ``reference`` and ``weight``):

* a constituent is **excluded** when it has not updated for ``stale_after_ms``
  (15 minutes), or when its price deviates from the **median of the fresh
  constituents** by more than ``band_ppm``;
* an excluded constituent is **reinstated** once it has been fresh and back
  within the band continuously for ``reinstate_after_ms`` (5 minutes);
* the index is the weighted average of the included constituents, weights
  renormalised over those included, rounded half up to the price unit
  (neutral: the index is a reference, not a payment between two parties);
* when fewer than ``min_constituents`` remain, the index **keeps its last
  value** and says so: the state is ``held`` and an ``IndexHeld`` event is
  emitted on every evaluation until enough constituents are back.

Consequence (tested): if one constituent is manipulated while the others
agree, it either stays within the band — and moves the index by at most its
weight share × band — or it is excluded and moves the index not at all.

Decision: the median is taken over *all* fresh constituents, not over "the
others".  With three constituents the median of the two others of an honest
one is the mean of the honest and the manipulated price, so a single feed
20% off would exclude both honest feeds (a counterexample our tests found);
the median of all three is the honest price.  With two constituents that
disagree beyond the band both drop out and the index is held.

Thresholds are parameters (:class:`IndexParams`); BitMEX publishes the
15-minute and 5-minute rules, not the band, which defaults to 5%.

The transitions are pure functions over the frozen :class:`IndexState`; they
are concrete (they sort and filter by value) and are tested, not proved; the
arithmetic kernels (:func:`compute_weighted_index`, :func:`is_out_of_band`)
run on symbolic integers too.
"""

from __future__ import annotations

import enum

import attrs

from perpspec.rules.num import PPM, abs_, concrete, ite, round_half_up_div


@attrs.frozen(kw_only=True)
class IndexParams:
    """Thresholds of the index rules (time in ms of the logical clock)."""

    stale_after_ms: int = 900_000  # = 15 minutes without an update -> excluded
    reinstate_after_ms: int = 300_000  # = 5 minutes back in line -> reinstated
    band_ppm: int = 50_000  # = 5.00% from the median of the other fresh constituents
    min_constituents: int = 2  # fewer included -> the index keeps its last value


class ConstituentStatus(enum.Enum):
    """Whether a constituent counts in the index."""

    INCLUDED = "included"
    EXCLUDED = "excluded"


@attrs.frozen(kw_only=True)
class Constituent:
    """One spot source of the index (BitMEX compositeIndex ``reference``, ``weight``)."""

    reference: str  # e.g. "BSTP" (Bitstamp)
    weight: int  # relative weight, positive integer units
    price: int = 0  # lastPrice, price units (0: never reported)
    updated_ms: int = 0  # logical time of the last price
    status: ConstituentStatus = ConstituentStatus.INCLUDED
    in_line_since_ms: int | None = None  # excluded and back in line since (None: not in line)


@attrs.frozen(kw_only=True)
class IndexState:
    """The index of one instrument: its constituents and the last published value."""

    constituents: tuple[Constituent, ...]  # sorted by reference (fixed order)
    value: int = 0  # last published index price, price units (0: none yet)
    held: bool = False  # True while too few constituents remain and the value is kept
    time_ms: int = 0  # logical time of the last evaluation or price


@attrs.frozen(kw_only=True)
class ConstituentExcluded:
    """IDX-003: a constituent stopped counting (reason ``stale`` or ``deviation``)."""

    reference: str
    reason: str
    price: int
    median: int  # median of the fresh constituents (0 when none was fresh)
    time_ms: int


@attrs.frozen(kw_only=True)
class ConstituentReinstated:
    """IDX-003: an excluded constituent counts again after being back in line long enough."""

    reference: str
    price: int
    in_line_since_ms: int
    time_ms: int


@attrs.frozen(kw_only=True)
class IndexUpdated:
    """IDX-004: the index was recomputed from the included constituents."""

    value: int
    included: tuple[str, ...]
    time_ms: int


@attrs.frozen(kw_only=True)
class IndexHeld:
    """IDX-004: too few constituents remain; the index keeps its last value."""

    value: int
    included: tuple[str, ...]
    required: int
    time_ms: int


IndexEvent = ConstituentExcluded | ConstituentReinstated | IndexUpdated | IndexHeld


@attrs.frozen(kw_only=True)
class IndexRejection:
    """A constituent price (IDX-005) or a new index's rows (IDX-009) that were not accepted (no state change)."""

    reason: str  # "unknown-constituent" | "non-positive-price" | "time-went-backwards" | IDX-009's:
    # "non-positive-weight" | "negative-price" | "repeated-constituent" | "no-constituent"
    detail: str


def compute_weighted_index(prices: tuple[int, ...], weights: tuple[int, ...]) -> int:
    """IDX-001: ``Σ weight·price / Σ weight``, rounded half up to the price unit (0 when empty)."""
    numerator = 0
    total_weight = 0
    for price, weight in zip(prices, weights, strict=True):
        numerator = numerator + weight * price
        total_weight = total_weight + weight
    safe_weight = ite(total_weight == 0, 1, total_weight)
    # round half up: the index is a shared reference, no side is favoured.
    return round_half_up_div(numerator, safe_weight)


def is_out_of_band(price: int, median: int, band_ppm: int) -> bool:
    """IDX-002: ``|price − median| > band × median`` (the exact comparison, no rounding)."""
    return abs_(price - median) * PPM > band_ppm * median


@concrete
def compute_median(prices: tuple[int, ...]) -> int:
    """IDX-006: the median; for an even count the floor of the mean of the two middle values."""
    ordered = sorted(prices)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 1:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2  # floor: a reference only, never money


@concrete
def is_fresh(params: IndexParams, constituent: Constituent, time_ms: int) -> bool:
    """IDX-007: the constituent has a price younger than ``stale_after_ms``."""
    return constituent.price > 0 and time_ms - constituent.updated_ms < params.stale_after_ms


@concrete
def get_fresh_median(params: IndexParams, state: IndexState, time_ms: int) -> int:
    """IDX-008: median of the fresh constituents' prices (0 when none is fresh)."""
    fresh = tuple(c.price for c in state.constituents if is_fresh(params, c, time_ms))
    if len(fresh) == 0:
        return 0
    return compute_median(fresh)


@concrete
def make_index_state(
    constituents: tuple[tuple[str, int, int], ...], time_ms: int, params: IndexParams
) -> IndexState | IndexRejection:
    """IDX-009: a new index from ``(reference, weight, price)`` rows, all included, evaluated at ``time_ms``.

    Refused (an :class:`IndexRejection`, nothing built) unless there is at least one row, every weight is a
    positive integer, every price is ≥ 0 (0: not reported yet) and no reference repeats.  Positive weights
    are what IDX-001 assumes (its proof takes weights > 0): a total weight of 0, or weights of opposite signs,
    would publish an index of 0 or let a feed move the index against its own price; a repeated reference
    would be counted twice and updated twice by one IDX-005 price.
    """
    if len(constituents) == 0:
        return IndexRejection(reason="no-constituent", detail="an index needs at least one constituent")
    seen: list[str] = []
    for reference, weight, price in constituents:
        if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
            return IndexRejection(reason="non-positive-weight", detail=f"{reference}: {weight!r}")
        if isinstance(price, bool) or not isinstance(price, int) or price < 0:
            return IndexRejection(reason="negative-price", detail=f"{reference}: {price!r}")
        if reference in seen:
            return IndexRejection(reason="repeated-constituent", detail=reference)
        seen.append(reference)
    rows = tuple(
        Constituent(reference=reference, weight=weight, price=price, updated_ms=time_ms)
        for reference, weight, price in sorted(constituents)
    )
    state, _ = process_index_tick(params, IndexState(constituents=rows, time_ms=time_ms), time_ms)
    return state


@concrete
def process_constituent_price(
    state: IndexState, reference: str, price: int, time_ms: int
) -> IndexState | IndexRejection:
    """IDX-005: record a constituent's new last price (exclusions are decided at the next tick)."""
    names = tuple(c.reference for c in state.constituents)
    if reference not in names:
        return IndexRejection(reason="unknown-constituent", detail=reference)
    if price <= 0:
        return IndexRejection(reason="non-positive-price", detail=f"{reference}: {price}")
    if time_ms < state.time_ms:
        return IndexRejection(reason="time-went-backwards", detail=f"{time_ms} < {state.time_ms}")
    rows = tuple(
        attrs.evolve(c, price=price, updated_ms=time_ms) if c.reference == reference else c
        for c in state.constituents
    )
    return attrs.evolve(state, constituents=rows, time_ms=time_ms)


@concrete
def _evaluate_constituent(
    params: IndexParams, state: IndexState, constituent: Constituent, time_ms: int
) -> tuple[Constituent, IndexEvent | None]:
    """IDX-003: exclusion (stale / deviation) and reinstatement of one constituent."""
    fresh = is_fresh(params, constituent, time_ms)
    median = get_fresh_median(params, state, time_ms)
    deviates = median > 0 and is_out_of_band(constituent.price, median, params.band_ppm)
    in_line = fresh and not deviates
    if constituent.status is ConstituentStatus.INCLUDED:
        if in_line:
            return constituent, None
        excluded = attrs.evolve(constituent, status=ConstituentStatus.EXCLUDED, in_line_since_ms=None)
        reason = "stale" if not fresh else "deviation"
        event = ConstituentExcluded(
            reference=constituent.reference,
            reason=reason,
            price=constituent.price,
            median=median,
            time_ms=time_ms,
        )
        return excluded, event
    if not in_line:
        return attrs.evolve(constituent, in_line_since_ms=None), None
    since = time_ms if constituent.in_line_since_ms is None else constituent.in_line_since_ms
    if time_ms - since >= params.reinstate_after_ms:
        back = attrs.evolve(constituent, status=ConstituentStatus.INCLUDED, in_line_since_ms=None)
        event_back = ConstituentReinstated(
            reference=constituent.reference, price=constituent.price, in_line_since_ms=since, time_ms=time_ms
        )
        return back, event_back
    return attrs.evolve(constituent, in_line_since_ms=since), None


@concrete
def process_index_tick(
    params: IndexParams, state: IndexState, time_ms: int
) -> tuple[IndexState, tuple[IndexEvent, ...]]:
    """IDX-004: re-evaluate every constituent at ``time_ms`` and publish (or hold) the index."""
    time_ms = max(time_ms, state.time_ms)  # the logical clock never runs backwards
    events: list[IndexEvent] = []
    rows: list[Constituent] = []
    for constituent in state.constituents:  # all judged against the same prices: order-free
        row, event = _evaluate_constituent(params, state, constituent, time_ms)
        rows.append(row)
        if event is not None:
            events.append(event)
    included = tuple(c for c in rows if c.status is ConstituentStatus.INCLUDED)
    names = tuple(c.reference for c in included)
    if len(included) < params.min_constituents:
        events.append(
            IndexHeld(value=state.value, included=names, required=params.min_constituents, time_ms=time_ms)
        )
        return IndexState(constituents=tuple(rows), value=state.value, held=True, time_ms=time_ms), tuple(events)
    value = compute_weighted_index(tuple(c.price for c in included), tuple(c.weight for c in included))
    events.append(IndexUpdated(value=value, included=names, time_ms=time_ms))
    return IndexState(constituents=tuple(rows), value=value, held=False, time_ms=time_ms), tuple(events)
