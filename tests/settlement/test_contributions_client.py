"""A payment day through the client classes of terminal/client/contributions.py on the running
service (SQLite and PostgreSQL): records migrated by the admin (entered three days ago, so
payable today whatever the date), orders, callbacks, replays, the reconciliation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hospital_sim.payments import enrolment_dates
from terminal.client.contributions import EnrolmentClient, PaymentChannelClient
from terminal.client.http import ServiceRefused
from tests.settlement.conftest import today, uid


def test_payment_day_through_the_client(world):
    channel_http = world.terminal("payment_channel")
    service = world.service
    key = channel_http.headers["Authorization"].removeprefix("Bearer ")
    channel = PaymentChannelClient(service.url, key)
    admin = EnrolmentClient(service.url, service.admin_key)
    entered, applied, year = enrolment_dates(today())
    people = [world.person(covered=False) for _ in range(3)]
    for psn in people:
        admin.enter(psn, applied_on=applied, entered_on=entered)
    assert channel.status(people[0], year=year)["state"] == "payable"
    total = 0
    for n, psn in enumerate(people):
        order = channel.create_order(f"o-{uid()}-{n}", psn, year)
        confirmed = channel.confirm(order["order_no"], f"t-{n}", order["amount_fen"])
        assert confirmed["status"] == "confirmed"
        assert channel.confirm(order["order_no"], f"t-{n}", order["amount_fen"]) == confirmed
        total += order["amount_fen"]
    with pytest.raises(ServiceRefused) as refused:
        channel.create_order(f"o-{uid()}", people[0], year)
    assert refused.value.code == "already_paid"
    day = today()
    recon = channel.reconciliation(channel_http.institution, day, count=3, amount_fen=total)
    if recon["count"] != 3:  # the payments straddled local midnight
        later = channel.reconciliation(channel_http.institution, day + timedelta(days=1))
        recon["count"] += later["count"]
    else:
        assert recon["balanced"] is True
    assert recon["count"] == 3 and recon["internal_balanced"]
    with pytest.raises(ServiceRefused) as refused:
        EnrolmentClient.like(channel).enter(uid("P"), entered_on=entered)
    assert refused.value.code == "not_entitled"
    channel.close()
    admin.close()
