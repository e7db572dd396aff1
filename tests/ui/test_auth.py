"""`cairn ui --auth` over a real socket: 401 (a sign-in page for a browser, JSON for a
script) without a trusted token, 403 without the right, the token from a header or the
sign-in cookie, revocation within 2 seconds, liveness and static files open, and no route
left without a declared need."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from cairn.auth import grant, init, revoke
from cairn.errors import NotFoundError
from cairn.serve.guard import UnguardedRouteError
from cairn.ui.access import COOKIE, NEEDS, Access
from cairn.ui.app import ui_routes
from tests.ui.browsing import log_runs, ui_server


@pytest.fixture
def runs(workspace: Path) -> dict[str, str]:
    init()
    return {"digits": log_runs(1, "digits")[0], "secret": log_runs(1, "secret")[0]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_token_a_script_gets_401_json_and_a_browser_the_sign_in_page(runs) -> None:
    with ui_server(auth=True) as url:
        answer = httpx.get(f"{url}/api/runs")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer realm="cairn"'
        assert answer.json()["type"] == "MissingTokenError"
        page = httpx.get(f"{url}/runs?experiment=digits")
        assert page.status_code == 401
        assert 'action="/login"' in page.text and "/runs" in page.text
        forged = httpx.get(f"{url}/api/runs", headers=bearer("not-a-biscuit"))
        assert forged.status_code == 401
        assert 'error="invalid_token"' in forged.headers["www-authenticate"]
        assert httpx.get(f"{url}/health/live").status_code == 200
        assert httpx.get(f"{url}/static/app.css").status_code == 200


def test_a_token_reads_only_the_experiments_it_was_granted(runs) -> None:
    token = grant("alice", ["read:experiment/digits"], ttl="1h")
    with ui_server(auth=True) as url:
        mine = httpx.get(f"{url}/api/runs?experiment=digits", headers=bearer(token))
        assert mine.status_code == 200
        assert [r["id"] for r in mine.json()["runs"]] == [runs["digits"]]
        assert httpx.get(f"{url}/api/runs", headers=bearer(token)).status_code == 403
        other = httpx.get(f"{url}/api/runs?experiment=secret", headers=bearer(token))
        assert other.status_code == 403 and other.json()["type"] == "ForbiddenError"
        assert httpx.get(f"{url}/api/runs/{runs['digits']}", headers=bearer(token)).is_success
        theirs = httpx.get(f"{url}/api/runs/{runs['secret']}", headers=bearer(token))
        assert theirs.status_code == 403
        assert httpx.get(f"{url}/api/models", headers=bearer(token)).status_code == 403


def test_signing_in_keeps_the_token_in_a_strict_http_only_cookie(runs) -> None:
    token = grant("alice", ["read:experiment/*"], ttl="1h")
    with ui_server(auth=True) as url, httpx.Client(base_url=url) as browser:
        signed = browser.post("/login", data={"token": token, "next": "/runs"})
        assert signed.status_code == 303 and signed.headers["location"] == "/runs"
        cookie = signed.headers["set-cookie"].lower()
        assert f"{COOKIE}=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        page = browser.get("/runs")
        assert page.status_code == 200 and runs["digits"] in page.text
        away = browser.post("/login", data={"token": token, "next": "//evil.example/"})
        assert away.headers["location"] == "/"
        cross = httpx.post(
            f"{url}/login", data={"token": token}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        assert browser.post("/logout").status_code == 303
        assert browser.get("/runs").status_code == 401


def test_a_revoked_token_is_refused_within_two_seconds(runs) -> None:
    token = grant("alice", ["read:experiment/*"], ttl="1h")
    with ui_server(auth=True) as url:
        assert httpx.get(f"{url}/api/runs", headers=bearer(token)).status_code == 200
        revoke(token)
        started = time.monotonic()
        while httpx.get(f"{url}/api/runs", headers=bearer(token)).status_code == 200:
            assert time.monotonic() - started < 2.0, "the revoked token still passes"
        assert httpx.get(f"{url}/api/runs", headers=bearer(token)).status_code == 401


def test_every_route_declares_what_it_needs() -> None:
    routes = ui_routes()
    Access(lambda *_: None, routes)  # raises for a route in neither table
    declared = {getattr(r, "path", "") for r in routes}
    assert set(NEEDS) <= declared, f"needs of routes that do not exist: {set(NEEDS) - declared}"
    with pytest.raises(UnguardedRouteError, match="/api/forgotten"):
        Access(lambda *_: None, [*routes, Route("/api/forgotten", lambda r: None)])


def test_a_promotion_needs_the_promote_right_and_is_recorded_as_the_tokens_subject(
    runs,
) -> None:
    from cairn import models
    from tests.serve.serving import register_digits

    version = register_digits()
    reader = grant("bob", ["read:model/digits"], ttl="1h")
    promoter = grant("alice", ["promote:model/digits"], ttl="1h")
    body = {"alias": "production", "version": version.version}
    with ui_server(auth=True) as url:
        refused = httpx.post(f"{url}/api/models/digits/promote", json=body, headers=bearer(reader))
        assert refused.status_code == 403
        with pytest.raises(NotFoundError):
            models.get_version("digits@production")
        moved = httpx.post(f"{url}/api/models/digits/promote", json=body, headers=bearer(promoter))
        assert moved.status_code == 200, moved.text
    (move,) = models.alias_history("digits", "production")
    assert move.version == version.version and move.actor == "alice"
