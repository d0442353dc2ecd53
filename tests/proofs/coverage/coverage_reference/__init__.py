"""A frozen copy of the coverage kind's compute path (verifier, trust, corroboration, graph,
scorer, cells, epoch and `CoverageKind.compute`) as it was at commit 01e4243, before the
compute path was optimised.

`test_parity.py` runs `opendepin.proofs.coverage.kind.KIND.compute` and `kind.compute` here on
the same random epochs and requires byte-identical verdicts, reasons, details, shares,
explanations and next state. Do not edit these files to follow a change of the rules: a rule
change must change both, on purpose.
"""
