"""The HTTP API (docs/design.md §2.4) and the dashboard, served by `partnersync serve`."""
