"""``make bench``: throughput and latency of the request path, measured from outside."""
