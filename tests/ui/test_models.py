"""The models pages and API over a real socket: versions, aliases and their history, gates
and their results, audit events; promoting from the API and from the page's form (its gates
run, a refusal moves nothing and says why), cross-site writes refused, bad input a 4xx."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import cairn
from cairn import models
from cairn.models import gates
from tests.serve.serving import X, Y, digits_model
from tests.ui.browsing import ui_server


@functools.cache
def fitted(c: float):
    """A digits model, fitted once for every test of the module (fitting takes seconds)."""
    return digits_model(c, iterations=50)


@pytest.fixture
def url(workspace: Path) -> Iterator[str]:
    """Two versions of digits; production is guarded by a gate no model passes, staging by
    one every digits model passes."""
    cairn.datasets.save("digits-holdout", {"X": X[600:], "y": Y[600:]})
    for c in (1.0, 0.5):
        models.register("digits", fitted(c), owner="ml", example=X[:4])
    models.add_gate("digits", "production", gates.metric("digits-holdout", "accuracy", min=1.01))
    models.add_gate("digits", "staging", gates.metric("digits-holdout", "accuracy", min=0.5))
    with ui_server() as base:
        yield base


def promote(url: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/api/models/digits/promote", json=body, headers=headers, timeout=60)


def test_the_list_and_the_page_show_versions_owner_and_gates(url: str) -> None:
    listed = httpx.get(f"{url}/api/models").json()
    data = httpx.get(f"{url}/api/models/digits").json()
    html = httpx.get(f"{url}/models").text
    page = httpx.get(f"{url}/models/digits").text
    assert [(m["name"], m["owner"], m["versions"], m["latest"]) for m in listed] == [
        ("digits", "ml", 2, 2)
    ]
    assert [v["version"] for v in data["versions"]] == [1, 2]
    assert {v["flavor"] for v in data["versions"]} == {"sklearn"}
    assert [g["alias"] for g in data["gates"]] == ["production", "staging"]
    assert data["gates"][0]["gate"] == "accuracy on digits-holdout >= 1.01"
    assert [e["action"] for e in data["events"]][-2:] == ["register", "register"]  # newest first
    assert 'href="/models/digits"' in html
    assert 'id="promote-form"' in page and 'id="model-owner">ml<' in page
    assert 'href="/lineage/artifact:' in page


def test_a_refused_promotion_is_a_409_with_the_reasons_and_moves_nothing(url: str) -> None:
    answer = promote(url, {"alias": "production", "version": 2})
    assert answer.status_code == 409, answer.text
    refusal = answer.json()
    assert refusal["type"] == "GateRefusedError"
    assert len(refusal["reasons"]) == 1 and "is below 1.01" in refusal["reasons"][0]
    assert "production" not in models.get_model("digits").aliases
    data = httpx.get(f"{url}/api/models/digits").json()
    assert data["moves"] == []
    (run,) = data["gate_runs"]
    assert (run["version"], run["alias"], run["passed"]) == (2, "production", False)
    assert "is below 1.01" in httpx.get(f"{url}/models/digits").text  # the results table


def test_a_passing_promotion_moves_the_alias_and_the_page_shows_its_history(url: str) -> None:
    first = promote(url, {"alias": "staging", "version": 2})
    second = promote(url, {"alias": "staging", "version": "1", "reason": "roll back"})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert (first.json()["previous"], first.json()["version"]) == (None, 2)
    assert [r["passed"] for r in first.json()["results"]] == [True]
    assert (second.json()["previous"], second.json()["version"]) == (2, 1)
    assert models.get_model("digits").aliases == {"staging": 1}
    data = httpx.get(f"{url}/api/models/digits").json()
    assert [(m["previous"], m["version"], m["reason"]) for m in data["moves"]] == [
        (2, 1, "roll back"),
        (None, 2, None),
    ]
    assert [(e["action"], e["detail"].get("after")) for e in data["events"][:1]] == [
        ("alias.set", 1)
    ]
    page = httpx.get(f"{url}/models/digits").text
    history = page[page.index('id="alias-history-table"') :]
    assert history.count("<tr data-move=") == 2 and "roll back" in history
    assert 'data-alias="staging"' in page


def test_the_form_shows_a_refusal_inline_and_a_forced_move_with_its_reason(url: str) -> None:
    form = {"alias": "production", "version": "2"}
    target = f"{url}/models/digits/promote"
    fragment = httpx.post(target, data=form, headers={"HX-Request": "true"}, timeout=60)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="promote-result"')
    assert "Refused" in fragment.text and "is below 1.01" in fragment.text
    assert 'id="audit" hx-swap-oob="true"' in fragment.text and "<nav" not in fragment.text
    whole = httpx.post(target, data=form, timeout=60)
    assert whole.status_code == 409 and "<nav" in whole.text and "Refused" in whole.text
    assert 'value="production"' in whole.text  # what was typed is kept
    forced = {**form, "force": "on", "reason": "hotfix, accuracy checked by hand"}
    moved = httpx.post(target, data=forced, headers={"HX-Request": "true"}, timeout=60)
    assert moved.status_code == 200
    assert "version 2" in moved.text and "overrode 1 gate(s)" in moved.text
    assert models.get_model("digits").aliases == {"production": 2}
    audit = moved.text[moved.text.index('id="audit"') :]
    assert 'data-action="gate.override"' in audit and 'data-action="alias.set"' in audit
    missing = httpx.post(target, data={"alias": "production", "version": "1", "force": "on"},
                         headers={"HX-Request": "true"}, timeout=60)  # fmt: skip
    assert missing.status_code == 200 and "give the reason" in missing.text


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
]


def test_a_promotion_from_another_site_is_refused(url: str) -> None:
    body = {"alias": "staging", "version": 2}
    for headers in CROSS_SITE:
        api = promote(url, body, **headers)
        form = httpx.post(f"{url}/models/digits/promote", data=body, headers=headers)
        assert (api.status_code, form.status_code) == (403, 403), headers
        assert api.json()["type"] == "ForbiddenError"
    assert models.get_model("digits").aliases == {}


def test_a_same_origin_promotion_is_let_through(url: str) -> None:
    same = promote(url, {"alias": "staging", "version": 2}, **{"Sec-Fetch-Site": "same-origin"})
    by_origin = promote(url, {"alias": "staging", "version": 1}, Origin=url)
    assert same.status_code == by_origin.status_code == 200
    assert models.get_model("digits").aliases == {"staging": 1}


BAD_BODIES = [
    (b"not json", 400),
    (b"[1, 2]", 400),
    (b'{"version": 2}', 400),
    (b'{"alias": "staging", "version": "two"}', 400),
    (b'{"alias": "staging", "version": true}', 400),
    (b'{"alias": "staging", "version": 2, "force": "maybe"}', 400),
    (b'{"alias": "staging", "version": 2, "force": [1]}', 400),
    (b'{"alias": "staging", "version": 2, "reason": 5}', 400),
    (b'{"alias": "staging", "version": 2, "extra": 1}', 400),
    (b'{"alias": "staging", "version": 2, "force": true}', 400),  # no reason
    (b'{"alias": "latest", "version": 2}', 400),
    (b'{"alias": "staging", "version": 0}', 400),
    (b'{"alias": "staging", "version": 99}', 404),
]


def test_a_bad_promotion_is_a_4xx_with_json_and_moves_nothing(url: str) -> None:
    for body, status in BAD_BODIES:
        answer = httpx.post(f"{url}/api/models/digits/promote", content=body, timeout=60)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/json", body
        assert answer.json()["error"], body
    assert models.get_model("digits").aliases == {}


def test_an_unknown_model_is_a_404(url: str) -> None:
    assert httpx.get(f"{url}/api/models/nope").status_code == 404
    moved = httpx.post(f"{url}/api/models/nope/promote", json={"alias": "a", "version": 1})
    assert moved.status_code == 404 and moved.json()["type"] == "NotFoundError"
    assert httpx.get(f"{url}/api/models/bad@name").status_code == 400
