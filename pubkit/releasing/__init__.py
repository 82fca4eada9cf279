"""The release tool: a monorepo's packages, their graph, versions, and the release pipeline.

``core/`` is pure logic (workspace, graph, versioning, plan, publishing decisions, events);
``adapters/`` holds the I/O behind small interfaces (git, the index reader, builder, tester,
publisher, credentials, processes); the modules here sequence them. The index server never
imports this package.
"""
