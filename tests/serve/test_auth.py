"""`cairn serve --auth` over real sockets: 401 for every token that cannot be trusted, 403
for one without the right, 200 for the right one, liveness open, no route forgotten, and
denials in the audit log without a flood of them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from biscuit_auth import BiscuitBuilder, KeyPair
from starlette.routing import Route

from cairn import models
from cairn.auth import attenuate, grant, init, revoke
from cairn.serve.app import ServeApp
from cairn.serve.denials import DenialAction
from cairn.serve.guard import NEEDS, PUBLIC, V1_PREDICT, Guard, UnguardedRouteError
from cairn.serve.settings import ServeSettings
from cairn.store import get_store
from cairn.store.events import read_events
from tests.serve.serving import X, register_digits, running

SETTINGS = ServeSettings(("digits@production",), auth=True)
PREDICT = "/v1/models/digits/predict"
ROWS = {"inputs": X[:1].tolist()}


@pytest.fixture
def digits(workspace: Path) -> models.ModelVersion:
    init()
    version = register_digits()
    models.set_alias("digits", "production", version.version)
    return version


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def predict(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}{PREDICT}", json=ROWS, headers=headers or {})


def assert_unauthenticated(answer: httpx.Response, *, token_given: bool = True) -> None:
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="cairn"')
    assert ('error="invalid_token"' in challenge) is token_given
    assert answer.json()["type"] == ("AuthError" if token_given else "MissingTokenError")


def until_refused(url: str, token: str, deadline_s: float) -> float:
    """Seconds until the server answers 401 to `token` (it answers 200 until then)."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        answer = predict(url, bearer(token))
        if answer.status_code == 401:
            assert_unauthenticated(answer)
            return time.monotonic() - started
        assert answer.status_code == 200, answer.text
        time.sleep(0.05)
    raise AssertionError(f"the token was still accepted after {deadline_s} s")


def test_tokens_that_cannot_be_trusted_get_401_and_the_right_one_200(digits) -> None:
    token = grant("alice", ["predict:model/digits"], "1h")
    other = KeyPair()
    forged = (
        BiscuitBuilder('subject("mallory"); right("predict", "model", "*", "^.*$");')
        .build(other.private_key)
        .to_base64()
    )
    with running(SETTINGS) as url:
        assert predict(url, bearer(token)).status_code == 200
        assert_unauthenticated(predict(url), token_given=False)
        for malformed in ({"Authorization": token}, {"Authorization": "Basic abc"},
                          bearer("not a token"), bearer(token[:-12])):  # fmt: skip
            assert_unauthenticated(predict(url, malformed))
        answer = predict(url, bearer(forged))
        assert_unauthenticated(answer)
        assert "not signed by a key" in answer.json()["error"]
        # Starlette's routes are guarded as well as the hot path.
        assert_unauthenticated(httpx.get(f"{url}/v2/models/digits", headers=bearer(forged)))


def test_a_token_without_the_right_gets_403_and_an_attenuated_one_200(digits) -> None:
    reader = grant("bob", ["read:model/digits", "predict:model/other"], "1h")
    wide = grant("carol", ["predict:model/*", "read:model/*"], "1h")
    narrow = attenuate(wide, ["predict:model/digits"], ttl="10m", subject="device-7")
    with running(SETTINGS) as url:
        answer = predict(url, bearer(reader))
        assert answer.status_code == 403, answer.text
        assert answer.json()["type"] == "ForbiddenError"
        assert "www-authenticate" not in answer.headers
        assert httpx.get(f"{url}/v2/models/digits", headers=bearer(reader)).status_code == 200
        assert predict(url, bearer(narrow)).status_code == 200
        # The attenuated token lost what the wider one had; the wider one kept it.
        assert httpx.get(f"{url}/v1/models", headers=bearer(narrow)).status_code == 403
        assert httpx.get(f"{url}/v1/models", headers=bearer(wide)).status_code == 200
        invoked = httpx.post(f"{url}/invocations", json={"inputs": X[:1].tolist()},
                             headers=bearer(narrow))  # fmt: skip
        assert invoked.status_code == 200, invoked.text


def test_an_expired_token_is_refused(digits) -> None:
    token = grant("alice", ["predict:model/digits"], 1)
    with running(SETTINGS) as url:
        # Its decision is cached; the cache must not outlive the token.
        until_refused(url, token, deadline_s=5)


def test_a_revoked_token_is_refused_within_2_seconds(digits) -> None:
    token = grant("alice", ["predict:model/digits"], "1h")
    with running(SETTINGS) as url:
        assert predict(url, bearer(token)).status_code == 200
        revoke(token)
        assert until_refused(url, token, deadline_s=2) < 2


def test_every_route_but_liveness_answers_401_without_a_token(digits) -> None:
    token = grant("ops", ["admin:model/*", "read:model/*", "predict:model/*"], "1h")
    app = ServeApp(SETTINGS)
    routes = [r for r in app.starlette.routes if isinstance(r, Route)]
    assert len(routes) == len(app.starlette.routes)
    paths = {r.path for r in routes}
    assert paths | {V1_PREDICT} == PUBLIC | set(NEEDS)
    with running(SETTINGS, app) as url:
        for route in [*routes, Route(V1_PREDICT, lambda _: None, methods=["POST"])]:
            path = route.path.replace("{name}", "digits")
            for method in sorted(route.methods or {"GET"}):
                if method == "HEAD":
                    continue
                answer = httpx.request(method, f"{url}{path}", json=ROWS)
                if route.path in PUBLIC:
                    assert answer.status_code == 200, (method, path, answer.text)
                else:
                    assert_unauthenticated(answer, token_given=False)
                    allowed = httpx.request(method, f"{url}{path}", json=ROWS,
                                            headers=bearer(token))  # fmt: skip
                    assert allowed.status_code != 401, (method, path, allowed.text)
        # A path no route has still wants a token before it hears so.
        assert_unauthenticated(httpx.get(f"{url}/nothing/here"), token_given=False)
        assert httpx.get(f"{url}/nothing/here", headers=bearer(token)).status_code == 404


def test_a_route_that_declares_no_need_stops_the_app_from_starting() -> None:
    async def anything(_):
        return None

    with pytest.raises(UnguardedRouteError, match="/v9/secret"):
        Guard([Route("/health/live", anything), Route("/v9/secret", anything)], ["digits"])


def test_a_flood_of_denials_writes_a_handful_of_events(digits) -> None:
    reader = grant("bob", ["read:model/digits"], "1h")
    with running(SETTINGS) as url, httpx.Client(base_url=url) as client:
        for _ in range(1_000):
            assert client.post(PREDICT, json=ROWS, headers=bearer(reader)).status_code == 403
        for _ in range(10):
            assert client.post(PREDICT, json=ROWS).status_code == 401
    with get_store().reader() as conn:
        events = read_events(conn, "model/digits")
    denied = [e for e in events if e.action.startswith("serve.denied.")]
    forbidden = [e for e in denied if e.action == DenialAction.FORBIDDEN]
    anonymous = [e for e in denied if e.action == DenialAction.UNAUTHENTICATED]
    assert 1 <= len(forbidden) <= 3 and 1 <= len(anonymous) <= 2
    assert sum(e.detail["denials"] for e in forbidden) == 1_000
    assert sum(e.detail["denials"] for e in anonymous) == 10
    assert {e.actor for e in forbidden} == {"bob"}
    assert {e.actor for e in anonymous} == {"anonymous"}
    first = forbidden[0].detail
    assert first["request"] == "predict:model/digits"
    assert "does not allow predict:model/digits" in first["why"]
    assert "token_id" in first


def test_liveness_is_open_and_auth_off_needs_no_token(digits) -> None:
    with running(SETTINGS) as url:
        assert httpx.get(f"{url}/health/live").status_code == 200
        assert httpx.get(f"{url}/v2/health/live").status_code == 200
        assert httpx.get(f"{url}/health/ready").status_code == 401
    with running(ServeSettings(("digits@production",))) as url:
        assert predict(url).status_code == 200
