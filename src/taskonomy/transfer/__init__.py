"""Transfers: which source sets to try per target, readouts fit on cached representations."""
