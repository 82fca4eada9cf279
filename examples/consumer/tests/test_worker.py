import logging

import pytest
from acme_aws import S3JsonStore
from acme_catalog_worker import LISTING_CLEANED, Rejection, run
from acme_kafka import BatchingProducer, DeliveryError
from botocore.stub import Stubber
from fakes import FakeBroker, JsonBody

TOPIC = "catalog.listings"

FEED = [
    '{"id": 1, "title": "<i>Café</i>  au lait bowl", "description": "<p>Holds&nbsp;500 ml.</p>"}\n',
    "\n",
    '{"id": 2, "title": "   "}\n',
    "not json\n",
    # "Tea" in full-width letters.
    '{"id": "3", "title": "\uff34\uff45\uff41 towel"}\n',
]


def test_clean_listings_are_published_as_events(broker: FakeBroker) -> None:
    producer = BatchingProducer(broker, TOPIC, batch_size=10)

    summary = run(FEED, producer, run_id="r1")

    events = broker.events(TOPIC)
    assert [event.event_type for event in events] == [LISTING_CLEANED, LISTING_CLEANED]
    assert [event.payload for event in events] == [
        {"id": "1", "title": "Café au lait bowl", "slug": "cafe-au-lait-bowl",
         "description": "Holds 500 ml."},
        {"id": "3", "title": "Tea towel", "slug": "tea-towel", "description": ""},
    ]  # fmt: skip
    # The listing id is the key: every version of a listing lands on the same partition.
    assert broker.keys(TOPIC) == ["1", "3"]
    assert summary.published == 2


def test_every_event_is_delivered_when_the_run_returns(broker: FakeBroker) -> None:
    # A batch size larger than the feed: only the final flush sends anything.
    producer = BatchingProducer(broker, TOPIC, batch_size=100)

    run(FEED, producer, run_id="r1")

    assert producer.pending == 0
    assert len(broker.delivered[TOPIC]) == 2


def test_invalid_lines_are_rejected_and_logged_without_stopping_the_run(
    broker: FakeBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="acme_catalog_worker")

    summary = run(FEED, BatchingProducer(broker, TOPIC), run_id="r1")

    assert summary.rejections == [
        Rejection(3, "listing 2: the title '   ' has no words"),
        Rejection(4, "not JSON: Expecting value: line 1 column 1 (char 0)"),
    ]
    rejected = [r for r in caplog.records if r.getMessage() == "listing rejected"]
    assert [(r.__dict__["line"], r.__dict__["reason"]) for r in rejected] == [
        (3, "listing 2: the title '   ' has no words"),
        (4, "not JSON: Expecting value: line 1 column 1 (char 0)"),
    ]


def test_the_summary_is_stored_in_s3_after_delivery(
    broker: FakeBroker, s3: Stubber, store: S3JsonStore
) -> None:
    expected = {
        "run_id": "2024-06-01",
        "published": 2,
        "rejected": [
            {"line": 3, "reason": "listing 2: the title '   ' has no words"},
            {"line": 4, "reason": "not JSON: Expecting value: line 1 column 1 (char 0)"},
        ],
    }
    s3.add_response(
        "put_object",
        {},
        expected_params={
            "Bucket": "acme-runs",
            "Key": "catalog-worker/runs/2024-06-01.json",
            "Body": JsonBody(expected),
            "ContentType": "application/json",
        },
    )

    summary = run(FEED, BatchingProducer(broker, TOPIC), run_id="2024-06-01", store=store)

    assert summary.to_document() == expected


def test_no_summary_is_stored_when_the_broker_refuses_events(store: S3JsonStore) -> None:
    # The stubbed S3 has no response queued: a put_object would fail the test with an
    # UnStubbedResponseError rather than the DeliveryError expected here.
    broker = FakeBroker(rejected=1)

    with pytest.raises(DeliveryError, match="1 messages failed"):
        run(FEED, BatchingProducer(broker, TOPIC), run_id="r1", store=store)

    assert [event.payload["id"] for event in broker.events(TOPIC)] == ["3"]
