"""A frozen copy of the modules of the coverage kind's compute path that were optimised
(verifier, trust, corroboration, graph, epoch and `CoverageKind.compute`) as they were at
commit 01e4243; the scorer and the cell helpers, which did not change, are imported from
the package.

`test_parity.py` runs `opendepin.proofs.coverage.kind.KIND.compute` and `kind.compute` here on
the same random epochs and requires byte-identical verdicts, reasons, details, shares,
explanations and next state. Do not edit these files to follow a change of the rules: a rule
change must change both, on purpose.
"""
