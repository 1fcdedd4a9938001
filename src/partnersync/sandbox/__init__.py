"""Simulated Northpass LMS v2 and Impartner PRM Objects v1 APIs with a seeded data generator.

Use `partnersync.sandbox.server.running_sandbox` in tests and benchmarks, and
`partnersync.sandbox.server.main` to serve from the command line.
"""
