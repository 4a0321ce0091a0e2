"""Issue #16: one attempt counter per person for every query-password check: the
verification endpoint and the card-progress query share the 5-try limit."""

from __future__ import annotations

from .conftest import code_of, idem


def _person_with_password(world) -> tuple[str, str]:
    psn_no = world.person()
    certno = world.centre.get(f"/v1/people/{psn_no}").json()["certno"]
    reset = world.centre.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "reset", "new_password": "right-pass-1"},
        headers=idem(),
    )
    assert reset.status_code == 200, reset.text
    return psn_no, certno


def test_verification_guesses_are_limited(world):
    psn_no, _certno = _person_with_password(world)
    url = f"/v1/people/{psn_no}/query-password/verification"
    assert world.centre.post(url, json={"password": "right-pass-1"}).json()["valid"] is True
    for _ in range(5):
        answer = world.centre.post(url, json={"password": "wrong-guess"})
        assert answer.status_code == 200 and answer.json()["valid"] is False
    locked = world.centre.post(url, json={"password": "right-pass-1"})
    assert locked.status_code == 429 and code_of(locked) == "too_many_attempts"


def test_verification_and_progress_query_share_the_counter(world):
    psn_no, certno = _person_with_password(world)
    url = f"/v1/people/{psn_no}/query-password/verification"
    for _ in range(3):
        assert world.centre.post(url, json={"password": "wrong-guess"}).json()["valid"] is False
    for _ in range(2):
        answer = world.centre.post(
            "/v1/card-progress", json={"certno": certno, "query_password": "wrong-guess"}
        )
        assert answer.status_code == 403, answer.text
    locked = world.centre.post(url, json={"password": "right-pass-1"})
    assert locked.status_code == 429 and code_of(locked) == "too_many_attempts"
    locked = world.centre.post(
        "/v1/card-progress", json={"certno": certno, "query_password": "right-pass-1"}
    )
    assert locked.status_code == 429
