"""The settlement service's HTTP layer (docs/api.md): dependencies and one router per resource.

``settlement.main.create_app`` assembles the routers of ``settlement.api.routes``;
``settlement.api.deps`` provides what a route needs (service, caller,
Idempotency-Key). Routes translate HTTP into calls of the domain modules and
hold neither SQL nor decisions.
"""
