"""Messages and their life cycle: pending, then sealed with the answer, or failed (retried)."""
