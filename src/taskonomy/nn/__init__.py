"""Network layer of the learning pipeline: encoders, task decoders, per-image losses,
metrics and the transfer readout (imports torch; ``taskonomy.tasks`` does not)."""
