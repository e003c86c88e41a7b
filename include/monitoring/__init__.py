"""Operating the service: alerts, live-model performance checks and feature drift."""
