"""The HTTP edge on a real uvicorn: body caps, rate limits, slow heads, headers, request ids.

Every test talks to the hub over loopback sockets, as a hostile or careless client would;
nothing stands in for the server, the database or the browser.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from hub.app import create_app
from hub.config import Settings
from hub.edge import middleware
from hub.edge.limits import Buckets
from hub.edge.request_id import RequestIdFormatter
from hub.publishing.publishers import add_publisher
from schema.types import PublisherRole, RecordKind
from tests.conftest import fresh_database
from tests.hub_server import running
from tests.web_client import web

MB = 1024 * 1024
SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options",
            "referrer-policy", "cross-origin-opener-policy", "permissions-policy")  # fmt: skip


@pytest.fixture(scope="module")
def hub_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Starlette]:
    """The hub with its default caps, short timeouts, no rate limit, and one publisher."""
    folder = tmp_path_factory.mktemp("edge")
    with fresh_database("sqlite", request, folder) as url:
        settings = Settings(url, str(folder / "out"), None, rate_limit=0, header_timeout=2,
                            body_timeout=2, keep_alive_timeout=1, max_header_bytes=8192)  # fmt: skip
        app = create_app(settings)
        with app.state.engine.begin() as conn:
            _, token = add_publisher(conn, "edge-test", PublisherRole.regional_site, ["110000"],
                                     [RecordKind.notice], "http://edge.example.gov.cn")  # fmt: skip
        app.state.publisher_token = token
        yield app
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def hub(hub_app: Starlette) -> Iterator[str]:
    with running(hub_app) as base:
        yield base


@pytest.fixture
def token(hub_app: Starlette) -> str:
    """The publisher's bearer token."""
    return str(hub_app.state.publisher_token)


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _body(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


# Body caps


def test_a_60_mb_query_is_refused_at_once_without_being_read(hub: str) -> None:
    with _connect(hub) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nhost: hub\r\ncontent-type: application/json\r\n"
                     b"content-length: 62914560\r\n\r\n")  # fmt: skip
        started = time.monotonic()
        raw = _answer(sock)  # not one byte of the body was sent: the server did not wait for it
        elapsed = time.monotonic() - started
    assert _status(raw) == 413 and elapsed < 2, (raw[:300], elapsed)
    [error] = _body(raw)["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and "1 MB" in error["message"]
    assert b"connection: close" in raw.lower()


def test_a_chunked_body_is_counted_as_it_streams(hub: str) -> None:
    chunk = b"x" * 65536
    with _connect(hub) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nhost: hub\r\ncontent-type: application/json\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
        try:
            for _ in range(40):  # 2.5 MB offered; refused once 1 MB has passed
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = _answer(sock)
    assert _status(raw) == 413, raw[:300]
    assert _body(raw)["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_bigger_body_needs_a_real_publisher_token(hub: str, token: str) -> None:
    padding = "#" + "x" * (2 * MB) + "\n"
    body = json.dumps({"query": padding + "{ __typename }"})
    made_up = web.post(f"{hub}/graphql", content=body, timeout=30,
                         headers={"content-type": "application/json",
                                  "authorization": "Bearer cgp_made_up"})  # fmt: skip
    assert made_up.status_code == 413 and "publisher" in made_up.text
    real = web.post(f"{hub}/graphql", content=body, timeout=30,
                      headers={"content-type": "application/json",
                               "authorization": f"Bearer {token}"})  # fmt: skip
    assert real.status_code != 413, real.text[:300]


# Request heads: slowloris, size, keep-alive


def test_a_slow_request_head_is_cut_off_while_others_are_served(hub: str) -> None:
    closed_after: list[float] = []

    def slowloris() -> None:
        with _connect(hub) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: hub\r\nx-slow: ")
            try:
                for _ in range(30):  # a byte a second; the head never ends
                    time.sleep(1)
                    sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                pass
            closed_after.append(time.monotonic() - started)

    slow = threading.Thread(target=slowloris)
    slow.start()
    latencies = []
    while slow.is_alive():
        started = time.monotonic()
        assert web.get(f"{hub}/healthz", timeout=10).status_code == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.2)
    assert closed_after and closed_after[0] < 2 + 3, closed_after  # header_timeout=2, margin
    assert len(latencies) >= 5 and max(latencies) < 1, latencies


def test_a_body_dripping_in_is_cut_off(hub: str) -> None:
    with _connect(hub) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nhost: hub\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{")  # fmt: skip
        started = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(10):  # a byte a second, until the server answers
                if select.select([sock], [], [], 1)[0]:
                    break
                sock.sendall(b" ")
        answered = time.monotonic() - started
        raw = _answer(sock)
    assert _status(raw) == 408 and answered < 2 + 3, (answered, raw[:300])
    assert "CAIGOU_BODY_TIMEOUT" in _body(raw)["errors"][0]["message"]


def test_an_unfinished_head_gets_408_and_a_huge_one_431(hub: str) -> None:
    with _connect(hub) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: hub\r\n")
        assert _status(_answer(sock)) == 408
    with _connect(hub) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: hub\r\nx-big: " + b"a" * 20000)
        assert _status(_answer(sock)) == 431


def test_an_idle_keep_alive_connection_is_closed(hub: str) -> None:
    with _connect(hub) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: hub\r\n\r\n")
        started = time.monotonic()
        raw = _answer(sock)  # the answer, then the close after keep_alive_timeout=1
        assert _status(raw) == 200 and time.monotonic() - started < 1 + 3


# Headers, request ids, client errors


def test_every_answer_carries_the_security_headers(hub: str) -> None:
    answers = [
        web.get(f"{hub}/"),
        web.get(f"{hub}/graphql", headers={"accept": "text/html"}),
        web.post(f"{hub}/graphql", json={"query": "{ __typename }"}),
        web.get(f"{hub}/downloads/"),
        web.get(f"{hub}/downloads/nothing.csv"),
        web.get(f"{hub}/no-such-page", headers={"accept": "text/html"}),
        web.put(f"{hub}/graphql"),
        web.post(f"{hub}/graphql", content=b"x" * (2 * MB)),
        web.get(f"{hub}/static/hub.css"),
    ]
    for answer in answers:
        missing = [name for name in SECURITY if name not in answer.headers]
        assert not missing, (answer.request.url, answer.status_code, missing)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-request-id"]


def test_the_request_id_is_kept_or_made_and_named_in_errors_and_logs(
    hub: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="caigou.http"):
        kept = web.post(f"{hub}/graphql", json={"query": "{ __typename }"},
                          headers={"x-request-id": "trace-42.a"})  # fmt: skip
    assert kept.headers["x-request-id"] == "trace-42.a"
    assert any('"request_id": "trace-42.a"' in r.getMessage() for r in caplog.records)
    for bad in ("x" * 200, "two words", "<script>"):
        made = web.get(f"{hub}/healthz", headers={"x-request-id": bad}).headers["x-request-id"]
        assert made != bad and len(made) == 32
    missing = web.get(f"{hub}/downloads/transactions/date=2001-01-01/transactions.csv")
    assert missing.status_code == 404
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    page = web.get(f"{hub}/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-request-id"] in page.text
    project = web.get(f"{hub}/projects/nothing-here", headers={"accept": "text/html"})
    assert project.status_code == 404 and project.headers["x-request-id"] in project.text


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"123", "application/json", "not a number"),
        (b'"query"', "application/json", "not a string"),
        (b"null", "application/json", "not null"),
        (b"[]", "application/json", "Batching"),
        (b"{not json", "application/json", "JSON"),
        (b'{"query": "{ __typename }"}', "text/plain", "Content-Type: application/json"),
        (b'{"query": 5}', "application/json", "`query` must be a string"),
        (b'{"query": "{ __typename }", "variables": []}', "application/json", "`variables`"),
    ],
)
def test_a_malformed_graphql_request_is_a_400_that_says_why(
    hub: str, body: bytes, content_type: str, says: str
) -> None:
    answer = web.post(f"{hub}/graphql", content=body, headers={"content-type": content_type})
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["errors"]
    assert says in error["message"] and error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["request_id"] == answer.headers["x-request-id"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/changes?limit=%C2%B2", 400), ("/changes?limit=" + "1" * 5000, 400),
     ("/parties/%C2%B2", 404), ("/?q=x&year=%C2%B2", 400), ("/?q=x&purchaser=%C2%B2", 400),
     ("/transparency?group=purchaser&key=%C2%B2", 400), ("/parties/1?before=2024-01-01.%C2%B2", 400),
     ("/parties/1?before=2024-01-01.99999999999999999999999", 400)],
)  # fmt: skip
def test_digits_that_are_not_ascii_are_bad_input_not_a_crash(
    hub: str, path: str, status: int
) -> None:
    """ "²" passes `str.isdigit()` and then fails `int()`; so does a number past Python's
    4,300-digit limit. Each was a 500."""
    answer = web.get(hub + path)
    assert answer.status_code == status, (path, answer.status_code, answer.text[:300])


def test_a_wrong_method_is_a_405(hub: str) -> None:
    for method, path in (("PUT", "/graphql"), ("DELETE", "/downloads/catalog.json"),
                         ("POST", "/transactions")):  # fmt: skip
        answer = web.request(method, f"{hub}{path}")
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.json()["request_id"] == answer.headers["x-request-id"]


def test_a_crash_is_a_500_that_names_the_request() -> None:
    """A route that raises stands in for a bug (a fault that cannot be caused for real)."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(RequestIdFormatter("%(message)s"))  # as `caigou serve` logs
    logging.getLogger().addHandler(handler)

    async def broken(request: object) -> None:
        logging.getLogger("caigou.test").warning("about to fail")
        raise RuntimeError("a bug")

    async def anyone(token: str) -> bool:
        return False

    app = Starlette(routes=[Route("/broken", broken)],
                    middleware=middleware(Settings("", "", None), anyone))  # fmt: skip
    try:
        with running(app) as base:
            answer = web.get(f"{base}/broken")
    finally:
        logging.getLogger().removeHandler(handler)
    assert answer.status_code == 500
    assert answer.json() == {"error": "Unexpected error.", "code": "INTERNAL_ERROR",
                             "request_id": answer.headers["x-request-id"]}  # fmt: skip
    assert "content-security-policy" in answer.headers
    request_id = answer.headers["x-request-id"]
    logged = lines.getvalue()
    assert f"about to fail [{request_id}]" in logged and "RuntimeError: a bug" in logged
    assert f'"request_id":"{request_id}"' in logged


# Rate limits


def test_the_buckets_refill_at_the_stated_rate() -> None:
    now = [0.0]
    buckets = Buckets(60, clock=lambda: now[0])  # one a second, sixty at once
    assert all(buckets.take("a") == 0 for _ in range(60))
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # another client has its own bucket
    now[0] += 1.0
    assert buckets.take("a") == 0 and buckets.take("a") > 0


def test_rate_limits_answer_429_per_client_and_per_token(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    with fresh_database("sqlite", request, tmp_path) as url:
        app = create_app(replace(Settings(url, str(tmp_path / "out"), None), rate_limit=20))
        local = httpx.Client(base_url="", transport=httpx.HTTPTransport(local_address="127.0.0.1"))
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        token = {"authorization": "Bearer cgp_some_token"}
        with running(app) as base, local, other:
            codes = [local.get(f"{base}/downloads/catalog.json", headers=token).status_code
                     for _ in range(21)]  # fmt: skip
            assert codes[:20] == [404] * 20 and codes[20] == 429, codes
            refused = local.get(f"{base}/transactions")
            assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
            assert "CAIGOU_RATE_LIMIT" in refused.json()["error"]
            assert local.get(f"{base}/healthz").status_code == 200  # exempt
            assert local.get(f"{base}/metrics").status_code == 200
            # Another address: its own bucket, but the same token is still spent.
            assert other.get(f"{base}/downloads/catalog.json", headers=token).status_code == 429
            assert other.get(f"{base}/downloads/catalog.json").status_code == 404
        app.state.engine.dispose()


# The Content-Security-Policy in a real browser


def test_the_pages_and_graphiql_load_with_no_csp_violation(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Debian's Chromium, without bypassing the CSP: every page renders, nothing is blocked."""
    from tests.test_pages import AXE, CHROMIUM, CHROMIUM_ARGS, _require

    _require(CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/bootstrap.sh test")
    _require(AXE.exists(), "npm packages are missing: run scripts/bootstrap.sh test")
    from playwright.sync_api import sync_playwright

    from hub.demo import generate
    from hub.demo.load import load_demo

    with fresh_database("sqlite", request, tmp_path) as url:
        app = create_app(Settings(url, str(tmp_path / "out"), None))
        engine = app.state.engine
        files = generate(tmp_path / "demo", projects=10, transactions=200, penalties=5)
        assert all(result.status == "accepted" for _, result in load_demo(engine, files))
        with engine.connect() as conn:
            ocid = conn.exec_driver_sql("SELECT ocid FROM projects LIMIT 1").scalar()
            party = conn.exec_driver_sql("SELECT id FROM parties LIMIT 1").scalar()
        pages = ["/", "/?q=复印纸", "/transactions", "/transparency", "/downloads/",
                 f"/projects/{ocid}", f"/parties/{party}", "/no-such-page"]  # fmt: skip
        reported: list[str] = []
        with running(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.on("console", lambda m: reported.append(f"{page.url}: {m.type}: {m.text}"))
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => console.error("
                "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
            )
            for path in pages:
                answer = page.goto(base + path)
                assert answer is not None and "content-security-policy" in answer.headers
            page.goto(base + "/graphql")
            page.wait_for_selector(".graphiql-container", timeout=20_000), reported
            page.locator(".graphiql-execute-button").click()
            page.wait_for_selector(".result-window .CodeMirror-code", timeout=20_000)
            browser.close()
        engine.dispose()
    violations = [r for r in reported if "Content Security Policy" in r or "CSP" in r]
    assert not violations, violations


def test_graphql_errors_name_the_request(hub: str) -> None:
    answer = web.post(f"{hub}/graphql", json={"query": "{ noSuchField }"},
                        headers={"x-request-id": "trace-7"})  # fmt: skip
    assert answer.json()["errors"] and answer.json()["extensions"]["request_id"] == "trace-7"
