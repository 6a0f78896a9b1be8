"""What the tests share: the running system, and ways to talk to it."""
