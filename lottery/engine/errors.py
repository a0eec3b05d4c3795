"""The one-line error every bad setting raises, on the lowest floor so that engine code
(pruning limits, mask actions) can raise it before any work starts."""


class HparamError(ValueError):
    """A hyperparameter outside its allowed values."""
