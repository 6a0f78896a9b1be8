"""The HTTP face of the system: authentication, validation, RPC to the services, errors as
RFC 9457 problems. No database and no business rules."""
