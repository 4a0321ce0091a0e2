"""How far a time stated by a terminal may lie ahead of the service's clock.

Terminals' clocks drift: a stated admission, discharge or application time up to
:data:`CLOCK_SKEW` in the service's future is taken as "now", anything later is refused.
"""

from datetime import timedelta

CLOCK_SKEW = timedelta(minutes=5)
"""Clock skew tolerated between a terminal's clock and the service's."""
