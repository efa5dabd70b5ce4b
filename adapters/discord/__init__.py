"""Discord: interviews in direct messages, `/perspective` app commands."""
