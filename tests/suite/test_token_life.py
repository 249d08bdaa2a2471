"""A token that dies before its exp is the token endpoint's defect (AUTH-3, AUTH-1), named once for the run;
a 401 that something the run did explains is not (conformance/tokenlife.py, through the one client)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import pytest

from runai_conformance.conformance.tokenlife import JUDGED_BY_TEST, TokenBook, TokenDied
from tests.suite.runner import mock_client

USER = "00000000-0000-4000-8000-000000000001"


def jwt(exp: float, sub: str = "x") -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'sub': sub, 'exp': exp})}.c2ln"


class Target:
    """Grants a new token per grant, answers 401 to the tokens in `dead`, 200 (or 204) otherwise."""

    def __init__(self) -> None:
        self.dead: set[str] = set()
        self.granted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/token":
            token = jwt(time.time() + 3600, sub=str(len(self.granted)))
            self.granted.append(token)
            return httpx.Response(200, json={"accessToken": token})
        if request.headers.get("authorization", "").removeprefix("Bearer ") in self.dead:
            return httpx.Response(401, json={"code": 401, "message": "token expired"})
        if request.url.path == "/api/v1/users" and request.method == "POST":
            return httpx.Response(201, json={"id": USER, "username": "rcf-0badc0de-u@example.com", "tempPassword": "t"})
        if request.url.path.endswith("/logout"):
            return httpx.Response(200, json={})
        return httpx.Response(200, json=[])


def client(target: Target, shared: Path | None = None) -> httpx.Client:
    c = mock_client(target)
    c.token_book.shared = shared
    c.start_test("conformance/test_x.py::test_x")
    return c


def grant(c: httpx.Client, **body: str) -> str:
    return c.post("/api/v1/token", json={"grantType": "client_credentials", **body}).json()["accessToken"]


def test_a_granted_token_that_dies_before_its_exp_is_named_once_for_the_whole_run(tmp_path: Path) -> None:
    target = Target()
    worker_1, worker_2 = client(target, tmp_path), client(target, tmp_path)  # two workers, one shared directory
    first, second, third = (
        grant(worker_1, clientId="admin"),
        grant(worker_2, clientId="viewer"),
        grant(worker_1, clientId="peer"),
    )
    target.dead = {first, second, third}
    with pytest.raises(TokenDied) as named:
        worker_1.get("/api/v1/users", headers={"Authorization": f"Bearer {first}"})
    assert named.value.named and "the token of client admin" in str(named.value) and "still to live" in str(named.value)
    with pytest.raises(TokenDied) as again:
        worker_2.get("/api/v1/users", headers={"Authorization": f"Bearer {second}"})
    assert not again.value.named, "another worker named it already: this test is inconclusive"
    with pytest.raises(TokenDied) as later:
        worker_1.get("/api/v1/users", headers={"Authorization": f"Bearer {third}"})
    assert not later.value.named and str(later.value).startswith("inconclusive: ")
    assert first in worker_1.token_book.dead, "a role's dead token is fetched anew"


def test_a_401_something_the_run_did_explains_is_no_early_death() -> None:
    target = Target()
    c = client(target)
    forged = jwt(time.time() + 3600)
    target.dead = {forged}
    assert c.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"}).status_code == 401, "never granted"
    expiring = jwt(time.time() + 5)
    c.token_book.granted(expiring, "client near-exp")
    target.dead.add(expiring)
    assert c.get("/api/v1/users", headers={"Authorization": f"Bearer {expiring}"}).status_code == 401, "at its exp"
    c.post("/api/v1/users", json={"email": "rcf-0badc0de-u@example.com"})  # the book learns the user's name
    mine = c.post(
        "/api/v1/token", json={"grantType": "password", "username": "rcf-0badc0de-u@example.com", "password": "p"}
    )
    token = mine.json()["accessToken"]
    c.post(f"/api/v1/users/{USER}/logout")
    target.dead.add(token)
    assert c.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status_code == 401, "logged out"
    assert not c.token_book.deaths


def test_a_token_its_test_judges_itself_is_left_to_it() -> None:
    target = Target()
    c = client(target)
    token = grant(c, clientId="admin")
    target.dead = {token}
    answer = c.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}, extensions={JUDGED_BY_TEST: True})
    assert answer.status_code == 401 and not c.token_book.deaths


def test_after_anyones_logout_a_user_token_is_judged_once_it_was_seen_to_work() -> None:
    """A target that ends every user's tokens on one logout breaks AUTH-4: a user token not seen to work
    since the run's latest logout of anyone is that logout's test's to judge; one seen working after it
    and dying later died of age."""
    book = TokenBook()
    token = jwt(time.time() + 3600)
    book.granted(token, "user u", "u@example.com", now=time.time() - 10)
    book.ended("someone-else@example.com", logout=True)
    assert book.death(token) is None
    book.worked(token, at=time.time() - 1)  # sent before the logout's answer came: it may have worked before it
    assert book.death(token) is None
    book.worked(token)
    assert book.death(token) is not None


def test_only_an_answer_that_judged_the_token_shows_it_alive_after_a_logout() -> None:
    """After another user's logout, a router's 405 for an undeclared method or 404 for an unknown path say
    nothing of a user token: its 401 next is the logout's to judge (AUTH-4), not an early death. A 400 to a
    declared operation's body does show it alive."""
    routes = {"TRACE": 405, "GET": 404}

    def target(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/token":
            return httpx.Response(200, json={"accessToken": jwt(time.time() + 3600, sub="u")})
        if request.url.path.endswith("/logout"):
            return httpx.Response(200, json={})
        if request.headers.get("x-dead"):
            return httpx.Response(401, json={"code": 401, "message": "revoked"})
        if request.url.path == "/api/v1/me/password" and request.method in routes:
            return httpx.Response(routes[request.method], json={"code": routes[request.method], "message": "no"})
        if request.url.path == "/api/v1/me/password":
            return httpx.Response(400, json={"code": 400, "message": "too short"})
        return httpx.Response(404, json={"code": 404, "message": "no route"})

    c = mock_client(target)
    c.start_test("conformance/test_x.py::test_x")
    body = {"grantType": "password", "username": "u@example.com", "password": "p"}
    token = c.post("/api/v1/token", json=body).json()["accessToken"]
    c.token_book.ended("someone-else@example.com", logout=True)  # a logout of another user of the run
    auth = {"Authorization": f"Bearer {token}"}
    for method, path in (("TRACE", "/api/v1/me/password"), ("GET", "/api/v1/me/password"), ("GET", "/nowhere")):
        assert c.request(method, path, headers=auth).status_code in (404, 405)
    try:
        assert c.post("/api/v1/me/password", headers={**auth, "x-dead": "1"}, json={}).status_code == 401
    except TokenDied:  # (a skip, which would pass unseen)
        pytest.fail("a router's answer showed nothing of the token: its 401 next is no early death")
    assert not c.token_book.deaths
    assert c.post("/api/v1/me/password", headers=auth, json={"newPassword": "short"}).status_code == 400
    with pytest.raises(TokenDied):
        c.post("/api/v1/me/password", headers={**auth, "x-dead": "1"}, json={})


def test_the_tokens_a_logout_revoked_are_kept_to_be_judged_again() -> None:
    book = TokenBook()
    before, after = jwt(time.time() + 3600, "1"), jwt(time.time() + 3600, "2")
    book.granted(before, "user u", "u@example.com", now=time.time() - 5)
    book.ended("u@example.com", logout=True)
    book.granted(after, "user u", "u@example.com")
    assert set(book.revoked_tokens()) == {before}
