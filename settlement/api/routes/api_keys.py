"""API keys (docs/api.md §API keys): list, revoke, rotate, expire — admin only.

A change holds from the next request on in every worker: the route tells the
service after the change committed (:meth:`Service.keys_changed`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from settlement import api_keys
from settlement.api.deps import Caller, IdemKey, ServiceDep, mutate, read_audited
from settlement.schemas import KeyExpiryIn, KeyRotationIn

router = APIRouter(prefix="/v1", tags=["api-keys"])


@router.get("/api-keys")
def list_keys(principal: Caller, svc: ServiceDep, institution: str | None = None):
    return read_audited(
        svc, principal, lambda conn: api_keys.list_keys(conn, principal, institution)
    )


@router.post("/api-keys/{key_id}/revocation")
def revoke_key(
    key_id: str, request: Request, principal: Caller, svc: ServiceDep, key: IdemKey = None
):
    answer = mutate(
        request, svc, principal, key, {}, lambda conn: api_keys.revoke(conn, principal, key_id)
    )
    svc.keys_changed()
    return answer


@router.post("/api-keys/{key_id}/rotation")
def rotate_key(
    key_id: str,
    body: KeyRotationIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    key: IdemKey = None,
):
    answer = mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: api_keys.rotate(conn, principal, key_id, body.grace_s),
    )
    svc.keys_changed()
    return answer


@router.put("/api-keys/{key_id}/expiry")
def set_key_expiry(
    key_id: str,
    body: KeyExpiryIn,
    request: Request,
    principal: Caller,
    svc: ServiceDep,
    key: IdemKey = None,
):
    answer = mutate(
        request,
        svc,
        principal,
        key,
        body.model_dump(mode="json"),
        lambda conn: api_keys.set_expiry(conn, principal, key_id, body.expires_at),
    )
    svc.keys_changed()
    return answer
