"""``acme-catalog-worker [FEED] [--dry-run]``: clean a feed of listings and publish it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import acme_aws
import acme_core
import acme_kafka
import acme_text
from acme_core import AcmeError, ConfigError, configure_logging, load_settings
from acme_kafka import BatchingProducer, create_producer

import acme_catalog_worker
from acme_catalog_worker.settings import WorkerSettings, summary_store
from acme_catalog_worker.sinks import JsonLinesProducer
from acme_catalog_worker.worker import run

EXIT_FAILED = 1
EXIT_CONFIG = 2


def versions() -> str:
    """This application's version and those of the Acme packages it runs on."""
    packages = {
        "acme-core": acme_core.__version__,
        "acme-text": acme_text.__version__,
        "acme-kafka": acme_kafka.__version__,
        "acme-aws": acme_aws.__version__,
    }
    libraries = ", ".join(f"{name} {version}" for name, version in packages.items())
    return f"acme-catalog-worker {acme_catalog_worker.__version__} ({libraries})"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="acme-catalog-worker",
        description="Clean raw catalogue listings (JSON lines) and publish them to Kafka. "
        "Configured by ACME_* variables: ACME_KAFKA_BOOTSTRAP_SERVERS, ACME_LISTINGS_TOPIC, "
        "ACME_S3_BUCKET (where run summaries go; none when unset), ...",
    )
    parser.add_argument(
        "feed",
        nargs="?",
        type=Path,
        help="a file of listings, one JSON object a line (default: stdin)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write the records to stdout as JSON lines instead of producing them to Kafka",
    )
    parser.add_argument("--run-id", help="names the run's summary (default: the UTC time)")
    parser.add_argument(
        "--version", action="store_true", help="print the versions of the worker and its packages"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.version:
        # Not argparse's version action: it wraps the line to the width of the terminal.
        print(versions())
        return 0
    try:
        settings = load_settings(WorkerSettings)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(
        settings.log_level, service=settings.service, environment=settings.environment
    )
    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        if args.dry_run:
            producer = BatchingProducer(
                JsonLinesProducer(sys.stdout),
                settings.topic,
                batch_size=settings.kafka_batch_size,
                retry=settings.retry_policy,
            )
        else:
            # create_producer adds ACME_KAFKA_TOPIC_PREFIX itself.
            producer = create_producer(settings, settings.listings_topic)
        store = summary_store(os.environ)
        if args.feed is None:
            summary = run(sys.stdin, producer, run_id=run_id, store=store)
        else:
            with args.feed.open(encoding="utf-8") as feed:
                summary = run(feed, producer, run_id=run_id, store=store)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except (AcmeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return 0 if summary.published or not summary.rejections else EXIT_FAILED
