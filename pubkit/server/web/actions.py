"""What a form does: the admin API's own handler for the same operation, called with the
form's values, so that the policy, the validation and the audit are those of the API (and
of the CLI, which runs the same :class:`~pubkit.server.admin.Admin` operations)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from pubkit.errors import AuthenticationError, PubkitError
from pubkit.server import api
from pubkit.server.api_schema import RequestError, check_json
from pubkit.server.auth.policy import Action
from pubkit.server.web.session import Visitor

_BY_OPERATION = {spec.operation: spec for spec in api.ENDPOINTS}


async def invoke(visitor: Visitor, operation: str, args: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> Any:  # fmt: skip
    """Run the API endpoint ``operation`` as the visitor: its path and query parameters
    parsed from ``args``, ``body`` checked against its schema, then its handler."""
    spec = _BY_OPERATION[operation]
    if visitor.principal is None and not spec.public:
        raise AuthenticationError("sign in first")
    parsed = {}
    for param in spec.params:
        value = (args or {}).get(param.name)
        if value is not None and value != "":
            parsed[param.name] = param.parse(value)
        elif param.where == "path":
            raise RequestError(f"the form lacks the field {param.name!r}")
    body = body or {}
    if spec.body is not None:
        check_json(body, spec.body, "the form")
    call = api.Call(visitor.request, visitor.services, visitor.principal, parsed, body)
    return await spec.handler(call)


async def allowed(visitor: Visitor, action: Action, project: str | None = None) -> bool:
    """Whether the policy lets the visitor do ``action`` (to show its controls; the action
    itself is decided again when it is asked for)."""
    return await run_in_threadpool(may, visitor, action, project)


def may(visitor: Visitor, action: Action, project: str | None = None) -> bool:
    """:func:`allowed`, in a worker thread."""
    try:
        visitor.services.permissions.check(visitor.principal, action, project)
    except PubkitError:
        return False
    return True
