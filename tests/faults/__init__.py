"""Fault injection: proxies that stall, slow, fail or cut the dependencies of the server
and the release tool, and the tests that use them."""
