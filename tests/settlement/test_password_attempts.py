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


def _change(world, psn_no: str, old: str, new: str = "new-pass-22"):
    return world.centre.post(
        f"/v1/people/{psn_no}/query-password",
        json={"mode": "change", "old_password": old, "new_password": new},
        headers=idem(),
    )


def test_password_change_guesses_are_limited(world):
    psn_no, _certno = _person_with_password(world)
    for _ in range(5):
        wrong = _change(world, psn_no, "wrong-guess")
        assert wrong.status_code == 403 and code_of(wrong) == "password_invalid", wrong.text
    locked = _change(world, psn_no, "right-pass-1")
    assert locked.status_code == 429 and code_of(locked) == "too_many_attempts", locked.text
    check = world.centre.post(
        f"/v1/people/{psn_no}/query-password/verification", json={"password": "right-pass-1"}
    )
    assert check.status_code == 429  # the same counter: the password was not changed


def test_change_verification_and_progress_share_the_counter(world):
    psn_no, certno = _person_with_password(world)
    url = f"/v1/people/{psn_no}/query-password/verification"
    assert world.centre.post(url, json={"password": "wrong-guess"}).json()["valid"] is False
    assert _change(world, psn_no, "wrong-guess").status_code == 403
    answer = world.centre.post(
        "/v1/card-progress", json={"certno": certno, "query_password": "wrong-guess"}
    )
    assert answer.status_code == 403, answer.text
    assert _change(world, psn_no, "wrong-guess").status_code == 403
    # A right change is not a failure (and a new password ends the lockout)...
    assert _change(world, psn_no, "right-pass-1", "right-pass-2").status_code == 200
    for _ in range(2):
        assert _change(world, psn_no, "wrong-guess").status_code == 403
    # ...and a replayed answer is not a new guess: one wrong change sent three times is one.
    same = idem()
    body = {"mode": "change", "old_password": "wrong-guess", "new_password": "new-pass-22"}
    for _ in range(3):
        replay = world.centre.post(f"/v1/people/{psn_no}/query-password", json=body, headers=same)
        assert replay.status_code == 403 and code_of(replay) == "password_invalid", replay.text
    assert world.centre.post(url, json={"password": "right-pass-2"}).json()["valid"] is True
    for _ in range(2):  # failures 4 and 5
        assert world.centre.post(url, json={"password": "wrong-guess"}).json()["valid"] is False
    locked = world.centre.post(url, json={"password": "right-pass-2"})
    assert locked.status_code == 429 and code_of(locked) == "too_many_attempts"
