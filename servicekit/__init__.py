"""The runtime every service shares: settings, database, bus, RPC, outbox, logging.

Wire models are not here (they are ``contracts``); this is the machinery that moves them.
"""
