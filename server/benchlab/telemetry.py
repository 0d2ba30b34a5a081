"""The Prometheus metrics of this process (prometheus-client), defined once; served at `/metrics`."""
