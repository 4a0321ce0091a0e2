"""One router per resource, in the order of docs/api.md (and of the OpenAPI document)."""

from settlement.api.routes import (
    api_keys,
    applications,
    card_authentications,
    cards,
    catalogue,
    contributions,
    docs,
    gateway,
    health,
    inpatient,
    institutions,
    metrics,
    people,
    pins,
    police_register,
    proofs,
    reports,
    stays,
)

#: Every router of the API, in the order ``create_app`` includes them.
ROUTERS = (
    health.router,
    institutions.router,
    api_keys.router,
    people.router,
    cards.router,
    pins.router,
    proofs.router,
    card_authentications.router,
    catalogue.router,
    inpatient.router,
    stays.router,
    reports.router,
    applications.router,
    police_register.router,
    contributions.router,
    gateway.router,
    docs.router,
    metrics.router,
)
