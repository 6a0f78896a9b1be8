"""Settings of the ticket service."""

from typing import Literal

from servicekit.settings import ServiceSettings


class TicketSettings(ServiceSettings):
    db_plan_cache_mode: Literal["auto", "force_custom_plan", "force_generic_plan"] = (
        "force_custom_plan"
    )
    """Filtered lists are planned for their values every time: how many tickets a filter
    matches (a status, an issue type, one customer's) decides the plan."""
