"""``perpspec sweep``: a grid of stress simulations, each a normal ``perpspec simulate`` run.

* :mod:`.grid` — the grid file (base scenario, axes, measures, thresholds), validated before any work;
* :mod:`.cells` — one cell: its key (the hash of everything it depends on), its run, its measures;
* :mod:`.backends` — where cells run: a local process pool (default) or Ray (``perpspec[ray]``);
* :mod:`.results` — results as JSONL, CSV and Parquet (exact integer money) and the HTML report.
"""
