"""``python -m perpspec.proofs.specialise``: regenerate the kernels and their proof record."""

from perpspec.proofs.specialise.generate import main

raise SystemExit(main())
