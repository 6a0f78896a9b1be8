"""The running system of a test session (see ``deploy.sandbox``)."""

from deploy.sandbox import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    JWT_SECRET,
    ROOT,
    Stack,
    free_port,
    run_stack,
)

__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "JWT_SECRET", "ROOT", "Stack", "free_port", "run_stack"]
