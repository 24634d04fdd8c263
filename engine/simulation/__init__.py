"""Simulation: scenarios, the stress runner that drives the engine, its report, and what-if."""
