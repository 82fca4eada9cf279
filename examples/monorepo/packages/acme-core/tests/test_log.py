import io
import json
import logging
import sys

import pytest
from acme_core import JsonFormatter, configure_logging


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_become_json_lines_with_extra_fields(stream: io.StringIO) -> None:
    logger = logging.getLogger("test.orders")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="orders"))
    logger.addHandler(handler)
    try:
        logger.warning("order %s failed", 42, extra={"customer": "c-7"})
    finally:
        logger.removeHandler(handler)

    (entry,) = lines(stream)
    assert entry["message"] == "order 42 failed"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "test.orders"
    assert entry["service"] == "orders"
    assert entry["customer"] == "c-7"
    assert str(entry["time"]).endswith("+00:00")


def test_exceptions_are_included() -> None:
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        record = logging.makeLogRecord({"msg": "upload failed", "exc_info": sys.exc_info()})

    entry = json.loads(JsonFormatter().format(record))

    assert "RuntimeError: disk full" in entry["exception"]


def test_configure_logging_replaces_its_own_handler(stream: io.StringIO) -> None:
    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", stream=io.StringIO())
    handler = configure_logging("INFO", stream=stream, service="billing")
    try:
        logging.getLogger("billing").info("started")
        assert [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)] == [handler]
    finally:
        root.removeHandler(handler)
        root.setLevel(level)

    (entry,) = lines(stream)
    assert (entry["message"], entry["service"]) == ("started", "billing")
