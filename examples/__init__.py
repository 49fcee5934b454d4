"""Runnable examples for the asgi-* packages (not shipped in any distribution)."""
