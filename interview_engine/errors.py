"""Errors raised by the interview engine and its providers.

    EngineError
    ├── PlanError              a plan or guide edit that cannot be applied
    └── ProviderError          a model call failed or gave unusable output
        ├── ProviderTimeoutError
        ├── ProviderUnavailableError   connection failed, 5xx or 429 after retries
        ├── ProviderRefusalError       the model refused to answer
        └── ProviderOutputError        output cut off, not JSON, or wrong shape

A ProviderError during an interview never reaches the participant: the
engine answers that turn with the offline policy instead.
"""


class EngineError(Exception):
    """Base class of the engine's errors."""


class PlanError(EngineError):
    """Raised when a plan or guide edit cannot be applied, for example a
    question number that does not exist."""


class ProviderError(EngineError):
    """Raised when a model provider cannot produce a usable result."""


class ProviderTimeoutError(ProviderError):
    """Raised when the model did not answer within the configured timeout."""


class ProviderUnavailableError(ProviderError):
    """Raised when the endpoint could not be reached, answered with a server
    error, or kept rate limiting after the configured retries."""


class ProviderRefusalError(ProviderError):
    """Raised when the model refused the request."""


class ProviderOutputError(ProviderError):
    """Raised when the output was cut off, was not JSON, or did not match the
    expected schema even after one repair attempt."""
