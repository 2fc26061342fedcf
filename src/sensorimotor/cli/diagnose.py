"""``sensorimotor diagnose RUN_DIR``: read a run's training diagnostics and flag problems."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Read the per-batch training diagnostics of a run (RUN_DIR/diagnostics/: metrics, gradient norms
per component, batch composition; written by the explorer's batch training with diagnostics on)
and flag three problems: a plateau (the loss stopped falling over the last steps), a gradient
explosion (a gradient norm far above its recent median, or NaN/Inf) and batch averaging (the loss
is as high as predicting each sample as the batch's mean target). Exit code 0 when nothing is
flagged, 1 when something is.

examples:
  sensorimotor diagnose runs/explore-1234ab-diagnostics
  sensorimotor diagnose runs/explore-1234ab-diagnostics --window 100"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="flag plateau, gradient explosion and batch averaging in a run's training diagnostics",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory with diagnostics/ (explorer training)"
    )
    parser.add_argument("--window", type=int, default=50, help="steps looked at (default 50)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from sensorimotor.explorer.diagnostics import diagnose, read_batches

    records = read_batches(args.run_dir)
    findings = diagnose(records, window=args.window)
    print(
        f"{args.run_dir}: {len(records)} train steps (steps {records[0]['step']}-{records[-1]['step']})"
    )
    last = records[-min(args.window, len(records)) :]
    components = sorted({k for r in last for k in r.get("grad_norms", {})})
    if components:
        means = {c: float(np.mean([r["grad_norms"].get(c, 0.0) for r in last])) for c in components}
        print(
            "gradient norm per component (mean of the last steps): "
            + ", ".join(f"{c} {v:.3g}" for c, v in means.items())
        )
    samples = {i for r in records for i in r.get("batch", [])}
    print(f"distinct samples in the batches: {len(samples)}")
    for f in findings:
        print(f"  {'FLAG' if f.flagged else 'ok  '} {f.check}: {f.detail}")
    return 1 if any(f.flagged for f in findings) else 0
