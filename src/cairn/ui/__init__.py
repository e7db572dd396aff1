"""cairn ui: the pages and the JSON API that show a workspace."""

from cairn.ui.app import create_app

__all__ = ["create_app"]
