"""The index server: an ASGI app over a storage (the truth) and a catalog (a cache)."""
