"""Workflows in front of the reader: plain functions over a card session, PSAM and client.

No UI lives here: PINs come from a ``PinEntry`` callable (the CLI passes a
masked prompt or stdin), results are dataclasses and the service's JSON.
Every flow does all its card work before the one service call that changes
anything, so a removed card or a wrong PIN leaves nothing half-done.
"""
