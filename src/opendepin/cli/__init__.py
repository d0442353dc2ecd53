"""The `depin` command line: one sub-app per concern, registered in `cli.app`."""
