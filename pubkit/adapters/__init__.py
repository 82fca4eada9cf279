"""The edges: thin wrappers over subprocess, git, build, pytest and the index, each behind a
small Protocol with a fake beside it, so the pipeline can be tested without side effects."""
