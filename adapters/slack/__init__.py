"""Slack: interviews in direct messages and `/perspective` in channels."""
