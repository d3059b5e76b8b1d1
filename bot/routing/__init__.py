"""Driver routes: changes to a dispatched route, and the routing HTTP API."""
