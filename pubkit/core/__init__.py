"""Pure logic: no subprocess, no network, no disk writes."""
