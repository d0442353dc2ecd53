"""`python -m opendepin` is the same as `depin`."""

from opendepin.cli.app import main

main()
