"""Application wiring: configuration, the CLI, services and the demo."""
