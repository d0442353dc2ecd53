"""`python -m opendepin.chain.artifacts build|check [DIR]`: (re)build or verify the artefacts.

`build` compiles every packaged contract and writes the artefacts (default: this package's
directory, the checked-in copy); `check` compiles again and exits 1, listing each difference,
unless the files in DIR are exactly what the build writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from opendepin.chain.artifacts import ARTIFACTS_DIR

USAGE = "usage: python -m opendepin.chain.artifacts build|check [DIR]"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "check") or len(argv) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    from opendepin.chain.artifacts import build

    directory = Path(argv[1]) if len(argv) == 2 else ARTIFACTS_DIR
    if argv[0] == "build":
        for path in build.build(directory):
            print(path)
        return 0
    problems = build.check(directory)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print("rebuild with `python -m opendepin.chain.artifacts build`", file=sys.stderr)
        return 1
    print(f"{directory}: identical to a fresh build")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
