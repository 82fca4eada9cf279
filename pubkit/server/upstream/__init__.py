"""Upstream indexes: a pull-through cache with a dependency-confusion guard."""
