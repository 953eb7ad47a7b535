"""The shared training loop, optimizers, checkpoints and sharding."""
