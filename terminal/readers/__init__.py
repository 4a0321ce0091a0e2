"""Reader implementations behind ``terminal.reader``: PC/SC (``pcsc``) and in-process (``inprocess``)."""
