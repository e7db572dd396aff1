"""cairn serve: registry aliases behind an adaptive-batching, cached, routed HTTP endpoint."""
