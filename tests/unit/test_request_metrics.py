"""The lock-free tallies expose what prometheus-client's own Counter and Histogram would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from entrypoints.http.metrics import CALL_BUCKETS, TallyCounter, TallyHistogram

_REQUESTS = st.lists(
    st.tuples(
        st.sampled_from(["/api/v1/media/status/{id}", "/healthz", "unmatched"]),
        st.sampled_from(["GET", "POST"]),
        st.sampled_from([200, 404, 429, 500]),
        # Bucket bounds themselves included: a value equal to a bound belongs to that bucket.
        st.sampled_from(CALL_BUCKETS) | st.floats(min_value=0, max_value=100),
    ),
    max_size=40,
)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


@given(requests=_REQUESTS)
def test_the_tally_matches_prometheus_clients_counter_and_histogram(
    requests: list[tuple[str, str, int, float]],
) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tally = TallyCounter("media_http_requests", "x", ["route", "method", "status"])
    tally_seconds = TallyHistogram(
        "media_http_request_seconds", "x", ["route", "method"], CALL_BUCKETS
    )
    ours.register(tally)
    ours.register(tally_seconds)
    counter = Counter("media_http_requests", "x", ["route", "method", "status"], registry=theirs)
    histogram = Histogram(
        "media_http_request_seconds",
        "x",
        ["route", "method"],
        buckets=CALL_BUCKETS,
        registry=theirs,
    )
    for route, method, status, seconds in requests:
        tally.inc(route, method, status)
        tally_seconds.observe(seconds, route, method)
        counter.labels(route, method, str(status)).inc()
        histogram.labels(route, method).observe(seconds)
    mine, reference = _samples(ours), _samples(theirs)
    assert mine.keys() == reference.keys()
    for key, value in reference.items():
        if key[0].endswith("_sum"):
            assert mine[key] == pytest.approx(value)
        else:
            assert mine[key] == value
