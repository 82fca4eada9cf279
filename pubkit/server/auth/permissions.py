"""The facts :func:`~pubkit.server.auth.policy.decide` needs, read from the catalog and kept
per worker until the catalog serial moves (every role, group or visibility change moves it).

Reads of public projects on a public index never get here: the read path asks only
:meth:`Permissions.private_projects`, which costs a serial read while nothing changed.
"""

from __future__ import annotations

import threading

from pubkit.server.auth.policy import Action, Policy, decide
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import Catalog, ProjectAccess

MAX_CACHED = 4096


class Permissions:
    def __init__(self, catalog: Catalog, policy: Policy) -> None:
        self.catalog = catalog
        self.policy = policy
        self._lock = threading.Lock()
        self._serial = -1
        self._private: frozenset[str] | None = None
        self._access: dict[str, ProjectAccess | None] = {}
        self._groups: dict[str, frozenset[str]] = {}

    def _current(self, serial: int | None = None) -> None:
        if serial is None:
            serial = self.catalog.serial()
        with self._lock:
            if serial != self._serial:
                # In this order: known_private_projects reads them without the lock.
                self._private = None
                self._serial = serial
                self._access.clear()
                self._groups.clear()

    def known_private_projects(self, serial: int) -> frozenset[str] | None:
        """:meth:`private_projects` if this worker has them at ``serial``, else None; never
        a query (the read path's first try, on the event loop)."""
        return self._private if serial == self._serial else None

    def private_projects(self, serial: int | None = None) -> frozenset[str]:
        """Names of the private projects; ``serial``: the catalog serial, when the caller has
        just read it (as for every argument of that name here)."""
        self._current(serial)
        private = self._private
        if private is None:
            private = self._private = self.catalog.private_projects()
        return private

    def access(
        self, project: str, cached: bool = True, serial: int | None = None
    ) -> ProjectAccess | None:
        if not cached:
            return self.catalog.project_access(project)
        self._current(serial)
        with self._lock:
            if project in self._access:
                return self._access[project]
        access = self.catalog.project_access(project)
        with self._lock:
            if len(self._access) >= MAX_CACHED:
                self._access.clear()
            self._access[project] = access
        return access

    def groups_of(
        self, user: str, cached: bool = True, serial: int | None = None
    ) -> frozenset[str]:
        if not cached:
            return self.catalog.groups_of(user)
        self._current(serial)
        with self._lock:
            found = self._groups.get(user)
        if found is None:
            found = self.catalog.groups_of(user)
            with self._lock:
                if len(self._groups) >= MAX_CACHED:
                    self._groups.clear()
                self._groups[user] = found
        return found

    def check(self, principal: Principal | None, action: Action, project: str | None = None,
              cached: bool = True, serial: int | None = None) -> None:  # fmt: skip
        """Raise the error :func:`decide` gives, if any. ``cached=False`` reads the catalog
        afresh (uploads and admin changes, which must not act on a stale role)."""
        access = self.access(project, cached, serial) if project is not None else None
        groups = (self.groups_of(principal.name, cached, serial) if principal is not None
                  else frozenset())  # fmt: skip
        refusal = decide(self.policy, principal, action, project, access, groups)
        if refusal is not None:
            raise refusal

    def readable_private(
        self, principal: Principal | None, serial: int | None = None
    ) -> frozenset[str]:
        """The private projects ``principal`` may read (for their project list); the serial
        read once for all of them."""
        if serial is None:
            serial = self.catalog.serial()
        private = self.private_projects(serial)
        if principal is None or not private:
            return frozenset()
        groups = self.groups_of(principal.name, serial=serial)
        return frozenset(
            project
            for project in private
            if decide(self.policy, principal, Action.READ, project,
                      self.access(project, serial=serial), groups) is None
        )  # fmt: skip
