"""Sensor simulator: replays Citi Bike trip files (or synthetic load) as events on Pub/Sub."""
