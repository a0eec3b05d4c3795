"""deconstruct study."""
