"""The HTTP API (DESIGN §2.4) and the dashboard, served by `partnersync serve`."""
