"""Alerts: the policy that raises them, their record and evidence, and the durable log."""
