"""Settings of the ticket service."""

from servicekit.settings import PlanCacheMode, ServiceSettings


class TicketSettings(ServiceSettings):
    db_plan_cache_mode: PlanCacheMode = "force_custom_plan"
    """Filtered lists are planned for their values every time: how many tickets a filter
    matches (a status, an issue type, one customer's) decides the plan."""
