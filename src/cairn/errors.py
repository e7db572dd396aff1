"""Every error cairn raises on purpose derives from CairnError, so callers can catch one type."""


class CairnError(Exception):
    """Base class of cairn's own errors."""


class WorkspaceNotFoundError(CairnError):
    """No `.cairn/` above the current directory and no CAIRN_STORE set."""


class InvalidNameError(CairnError, ValueError):
    """A run, metric, param, tag or artifact name that cannot be stored safely."""


class InvalidValueError(CairnError, ValueError):
    """A value cairn cannot take: a metric or param of a type it cannot store, or an argument
    outside what a function accepts (a lineage direction, a dataset version, a moment)."""


class RunEndedError(CairnError):
    """Logging to a run that has already ended."""


class ParamChangedError(CairnError, ValueError):
    """Logging a param a run already has with another value: a logged param does not
    change, as in MLflow."""


class NotFoundError(CairnError, KeyError):
    """A run, artifact or blob that does not exist."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CorruptBlobError(CairnError):
    """A blob whose bytes no longer match its digest."""

    def __init__(self, digest: str, detail: str = "") -> None:
        self.digest = digest
        msg = f"blob {digest} is corrupt: its content no longer matches its digest"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class FilterSyntaxError(CairnError, ValueError):
    """A search filter that does not parse."""


class CodecError(CairnError):
    """A value no codec can encode, or bytes a codec cannot decode."""


class BeforeStoreError(CairnError, ValueError):
    """An `as_of` earlier than the store's first record."""


class VersionContentionError(CairnError, RuntimeError):
    """Other writers kept taking the next version number of a name this one tried to save."""


class SignatureError(CairnError, ValueError):
    """Inputs that do not fit a model's signature: a missing or unknown column, a dtype that
    cannot be cast without losing information, a wrong shape."""


class FlavorError(CairnError, ValueError):
    """A flavor name cairn does not know, or a model no flavor can save or load."""


class GateRefusedError(CairnError):
    """An alias move that one or more release gates refused; `reasons` lists every one."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(message)


class RequestError(CairnError, ValueError):
    """A request a server cannot read: malformed JSON, an unknown request format, a field
    of the wrong type."""


class UnsupportedMediaTypeError(RequestError):
    """A request body in a content type the endpoint does not take."""


class PayloadTooLargeError(RequestError):
    """A request body over the size limit, or with more rows than a request may hold."""


class OverloadedError(CairnError):
    """A request refused at once because it could not be answered within the latency
    objective; `retry_after` says when to try again (seconds)."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PredictError(CairnError):
    """A model that raised inside predict: the server's fault, answered with the request id
    and logged, while the server goes on serving."""


class AuthError(CairnError):
    """A token that cannot be trusted: missing, malformed, forged, expired or revoked (401),
    or a command about keys and tokens that cannot be done (a key that exists, none at all)."""


class ForbiddenError(CairnError):
    """A valid token that does not grant what the request needs (403)."""


class BlobKeyError(CairnError):
    """A blob encrypted under a key that is not given (CAIRN_BLOBS_KEY unset, or without
    that key)."""
