"""Network description: typed settings from `network.toml` plus `DEPIN_` environment variables."""

from opendepin.network.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
