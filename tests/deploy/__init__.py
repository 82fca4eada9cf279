"""Deployment artifacts: the repository's Dockerfile and examples/kubernetes."""
