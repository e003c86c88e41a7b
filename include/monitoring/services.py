"""Are the Google services the product uses reachable? (``bikeshare_services``, every 4 minutes: an outage
alerts within 4 min plus the check's 30 s at most, inside the 5 min the product promises)

One probe per service, through the project's own clients (:mod:`include.gcp.clients`), each a cheap read
of a resource the product uses:

- **pubsub** - the topic (publisher client), then the subscription (subscriber client);
- **bigquery** - the dataset (REST client);
- **storage** - the bucket (one object listed: the permission Airflow's role has);
- **metadata** - local profile only: the metadata-server stand-in of the local stack
  (:mod:`include.localstack.metadata_server`), where ``google.auth.default()`` gets Beam's dummy token.

Every call has a short explicit limit (:class:`Budget`: 10 s an attempt, 20 s in all, retries included,
instead of the clients' minutes of retrying), the probes run side by side, and :func:`probe_all` returns
after :attr:`Budget.overall` (30 s) at the latest, whatever a client does: a service down costs the check
~20 s, not the 4.5 min and more that ``bikeshare_stream.ensure_resources`` hung for with Pub/Sub down.

What a probe's error means (:func:`classify`, pure):

- ``unreachable`` - no answer: connection refused, a time-out, HTTP 503/504, gRPC UNAVAILABLE or
  DEADLINE_EXCEEDED, the retries used up on those;
- ``error`` - an answer that is a server error (HTTP 5xx, gRPC INTERNAL, UNKNOWN ...) or anything else unexpected;
- ``denied`` - 401/403, no credentials: the service is up but the product cannot use it (IAM);
- ``missing`` - NotFound: the service answers, the resource (topic, dataset, bucket) does not exist.

The first three are **down** and alert ``google_service_unreachable`` (one alert naming every service down,
its endpoint, the error and the next step), and the task fails (:func:`~include.monitoring.alerts.raise_alerts`).
``missing`` does **not** alert here: the service is up, and the resource is another problem, already loud - the
tasks that use it fail and alert ``task_failed`` with the NotFound naming it, and ``bikeshare_setup`` creates it
(a fresh deployment has none until then, which is no outage). It is logged and in the result.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any

from include.gcp.settings import Settings, get_settings
from include.monitoring import alerts

log = logging.getLogger(__name__)

OK, MISSING, UNREACHABLE, ERROR, DENIED = "ok", "missing", "unreachable", "error", "denied"
DOWN = frozenset({UNREACHABLE, ERROR, DENIED})  # what alerts

LABELS = {
    "pubsub": "Pub/Sub",
    "bigquery": "BigQuery",
    "storage": "Cloud Storage",
    "metadata": "metadata server stand-in (google.auth for Beam)",
}
GCP_ENDPOINTS = {
    "pubsub": "pubsub.googleapis.com:443",
    "bigquery": "https://bigquery.googleapis.com",
    "storage": "https://storage.googleapis.com",
}
LOCAL_TODO = (
    "run `make stack-status` to see which emulator does not answer, then `make stack-up` to start it again "
    "(its log: .local/logs/<service>.log)"
)
GCP_TODO = (
    "check https://status.cloud.google.com for an incident, then the deployment's service account roles "
    "(IAM) and network egress to the endpoint"
)


@dataclass(frozen=True)
class Budget:
    """How long a probe may take: ``attempt`` seconds a call, ``total`` seconds with its retries; the whole
    check returns after ``overall`` seconds whatever a client does (a probe still waiting is ``unreachable``)."""

    attempt: float = 10.0
    total: float = 20.0
    overall: float = 30.0


@dataclass(frozen=True)
class ServiceResult:
    """One service's answer: ``status`` (:data:`OK`, :data:`MISSING` or one of :data:`DOWN`), the seconds the
    probe took, the endpoint it asked, what it read and, unless ok, the error."""

    service: str
    status: str
    seconds: float
    endpoint: str
    resource: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def down(self) -> bool:
        return self.status in DOWN

    @property
    def label(self) -> str:
        return LABELS.get(self.service, self.service)

    def describe(self) -> str:
        what = f"{self.label} {self.status} at {self.endpoint} after {self.seconds:.1f} s"
        return f"{what}: {self.error}" if self.error else what


# --- pure: what an error means, what to alert ---------------------------------------------------------------


def classify(error: BaseException) -> str:
    """The status a probe's exception means (module docstring); a RetryError is judged by its last cause."""
    import requests
    from google.api_core import exceptions as gx
    from google.auth import exceptions as auth_errors

    if isinstance(error, gx.RetryError):
        return classify(error.cause) if error.cause is not None else UNREACHABLE
    if isinstance(error, gx.NotFound):
        return MISSING
    if isinstance(
        error, gx.Unauthorized | gx.Forbidden | auth_errors.DefaultCredentialsError | auth_errors.RefreshError
    ):
        return DENIED  # PermissionDenied / Unauthenticated are subclasses of these two
    if isinstance(error, gx.ServiceUnavailable | gx.GatewayTimeout | gx.DeadlineExceeded):
        return UNREACHABLE
    if isinstance(error, requests.ConnectionError | requests.Timeout | TimeoutError | ConnectionError):
        return UNREACHABLE
    if isinstance(error, urllib.error.HTTPError):
        return MISSING if error.code == 404 else DENIED if error.code in (401, 403) else ERROR
    if isinstance(error, urllib.error.URLError | OSError):
        return UNREACHABLE
    return ERROR


def error_text(error: BaseException, limit: int = 600) -> str:
    """``Type: message``, with a RetryError's last cause (the useful part), on one line."""
    from google.api_core import exceptions as gx

    text = f"{type(error).__name__}: {error}"
    if isinstance(error, gx.RetryError) and error.cause is not None and str(error.cause) not in text:
        text += f" (last: {type(error.cause).__name__}: {error.cause})"
    return " ".join(text.split())[:limit]


def down(results: Sequence[ServiceResult]) -> list[ServiceResult]:
    return [r for r in results if r.down]


def unreachable_alert(
    results: Sequence[ServiceResult], settings: Settings, seconds: float | None = None
) -> alerts.Alert | None:
    """One ``google_service_unreachable`` alert naming every service down, its endpoint and error, and what to
    do on this profile; None when none is down (a ``missing`` resource does not alert: module docstring)."""
    bad = down(results)
    if not bad:
        return None
    todo = LOCAL_TODO if settings.is_local else GCP_TODO
    names = ", ".join(r.label for r in bad)
    return alerts.Alert(
        "google_service_unreachable",
        f"{names} {'is' if len(bad) == 1 else 'are'} down ({settings.profile} profile): "
        + "; ".join(r.describe() for r in bad)
        + f". To do: {todo}.",
        details={
            "profile": settings.profile,
            "down": [r.service for r in bad],
            "services": {r.service: asdict(r) for r in results},
            "check_seconds": seconds,
        },
    )


# --- I/O: the probes ---------------------------------------------------------------------------------------


def endpoint(service: str, settings: Settings) -> str:
    """Where the service's client goes: the emulator locally, Google's API host on gcp."""
    if not settings.is_local:
        return GCP_ENDPOINTS.get(service, "")
    local = {
        "pubsub": settings.pubsub.address,
        "bigquery": settings.bigquery.url,
        "storage": settings.storage.url,
        "metadata": settings.metadata.url,
    }
    return local[service]


def _api_retry(budget: Budget, deadline: float) -> Any:
    """Retries of transient errors only, until ``deadline`` (monotonic) and within the budget."""
    from google.api_core import retry

    remaining = max(0.5, min(budget.total, deadline - time.monotonic()))
    return retry.Retry(initial=0.5, maximum=4.0, multiplier=2.0, timeout=remaining, predicate=retry.if_transient_error)


def _attempt(budget: Budget, deadline: float) -> float:
    return max(0.5, min(budget.attempt, deadline - time.monotonic()))


def probe_pubsub(settings: Settings, budget: Budget, deadline: float) -> str:
    from include.gcp import clients

    publisher = clients.publisher_client(settings)
    try:
        publisher.get_topic(
            request={"topic": settings.topic_path},
            retry=_api_retry(budget, deadline),
            timeout=_attempt(budget, deadline),
        )
    finally:
        with suppress(Exception):
            publisher.transport.close()
    with clients.subscriber_client(settings) as subscriber:
        subscriber.get_subscription(
            request={"subscription": settings.subscription_path},
            retry=_api_retry(budget, deadline),
            timeout=_attempt(budget, deadline),
        )
    return f"{settings.topic_path}, {settings.subscription_path}"


def probe_bigquery(settings: Settings, budget: Budget, deadline: float) -> str:
    from google.cloud import bigquery

    from include.gcp import clients

    dataset = f"{settings.project}.{settings.dataset}"
    client = clients.bigquery_client(settings)
    try:
        retry = bigquery.DEFAULT_RETRY.with_deadline(max(0.5, min(budget.total, deadline - time.monotonic())))
        client.get_dataset(dataset, retry=retry, timeout=_attempt(budget, deadline))
    finally:
        client.close()
    return dataset


def probe_storage(settings: Settings, budget: Budget, deadline: float) -> str:
    from google.cloud.storage.retry import DEFAULT_RETRY

    from include.gcp import clients

    client = clients.storage_client(settings)
    try:  # one object's listing, not the bucket's metadata: roles/storage.objectAdmin has no storage.buckets.get
        retry = DEFAULT_RETRY.with_timeout(max(0.5, min(budget.total, deadline - time.monotonic())))
        blobs = client.list_blobs(settings.bucket, max_results=1, retry=retry, timeout=_attempt(budget, deadline))
        next(iter(blobs.pages), None)
    finally:
        client.close()
    return f"gs://{settings.bucket}"


def probe_metadata(settings: Settings, budget: Budget, deadline: float) -> str:
    """The stand-in's project id, as google.auth asks for it (header ``Metadata-Flavor: Google``)."""
    url = f"{settings.metadata.url}/computeMetadata/v1/project/project-id"
    request = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=_attempt(budget, deadline)) as answer:
                if answer.headers.get("Metadata-Flavor") != "Google":
                    raise RuntimeError(f"{url} answered without the header Metadata-Flavor: Google")
                return url
        except urllib.error.HTTPError:
            raise
        except OSError:
            if time.monotonic() + 1.0 >= deadline:
                raise
            time.sleep(1.0)


Probe = Callable[[Settings, Budget, float], str]
PROBES: dict[str, Probe] = {
    "pubsub": probe_pubsub,
    "bigquery": probe_bigquery,
    "storage": probe_storage,
    "metadata": probe_metadata,
}


def services_for(settings: Settings) -> list[str]:
    """The services the product uses on this profile (the metadata stand-in exists locally only)."""
    return [name for name in PROBES if settings.is_local or name != "metadata"]


def run_probe(service: str, settings: Settings, budget: Budget, probe: Probe | None = None) -> ServiceResult:
    """One probe, timed; its exception classified, never raised."""
    started = time.monotonic()
    where = endpoint(service, settings)
    try:
        resource = (probe or PROBES[service])(settings, budget, started + budget.total)
    except Exception as err:  # every failure is a verdict here
        return ServiceResult(service, classify(err), round(time.monotonic() - started, 2), where, "", error_text(err))
    return ServiceResult(service, OK, round(time.monotonic() - started, 2), where, resource)


def probe_all(
    settings: Settings | None = None,
    budget: Budget | None = None,
    probes: Mapping[str, Probe] | None = None,
) -> list[ServiceResult]:
    """Every service's probe, side by side (daemon threads: a client that ignores its limits cannot hold the
    task, nor the process at exit); returns by ``budget.overall``, a probe still waiting then ``unreachable``."""
    s, b = settings or get_settings(), budget or Budget()
    chosen = dict(probes) if probes is not None else {name: PROBES[name] for name in services_for(s)}
    results: dict[str, ServiceResult] = {}
    started = time.monotonic()

    def work(name: str) -> None:
        results[name] = run_probe(name, s, b, chosen[name])

    threads = [threading.Thread(target=work, args=(name,), name=f"probe-{name}", daemon=True) for name in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + b.overall - time.monotonic()))
    return [
        results.get(name)
        or ServiceResult(
            name,
            UNREACHABLE,
            round(time.monotonic() - started, 2),
            endpoint(name, s),
            "",
            f"no answer within {b.overall:.0f} s (the probe is still waiting)",
        )
        for name in chosen
    ]


def check(context: Any = None, settings: Settings | None = None, budget: Budget | None = None) -> dict[str, Any]:
    """``bikeshare_services.check_google_services``: probe every service; any down: alert
    ``google_service_unreachable`` and fail (:class:`~include.monitoring.alerts.AlertRaised`). Returns the
    results (the XCom) when none is down."""
    s = settings or get_settings()
    started = time.monotonic()
    results = probe_all(s, budget)
    seconds = round(time.monotonic() - started, 2)
    for r in results:
        (log.warning if not r.ok else log.info)("%s", r.describe())
    for r in results:
        if r.status == MISSING:
            log.warning(
                "%s answers, but a resource is missing (no outage alert: the tasks that use it fail and alert; "
                "bikeshare_setup creates it): %s",
                r.label,
                r.error,
            )
    result = {
        "profile": s.profile,
        "seconds": seconds,
        "down": [r.service for r in down(results)],
        "missing": [r.service for r in results if r.status == MISSING],
        "services": {r.service: asdict(r) for r in results},
    }
    alert = unreachable_alert(results, s, seconds)
    alerts.raise_alerts([alert] if alert else [], context, s, result)
    return result
