"""Errors of the financial services, each with a stable reason code (docs/finance.md, "Reason codes")."""

from __future__ import annotations

from typing import ClassVar

# JSON-RPC 2.0's own error codes, as the services of the financial layer answer them.
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603


class FinanceError(Exception):
    """A refusal with a stable `reason` code and a sentence; `code` is its JSON-RPC error code."""

    reason: ClassVar[str] = "finance_error"
    code: ClassVar[int] = -32100

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_data(self) -> dict[str, str]:
        return {"reason": self.reason}


# -- identity documents and disclosures ------------------------------------------------------


class BadDocument(FinanceError):
    reason = "bad_document"
    code = -32101


class BadDisclosure(FinanceError):
    reason = "bad_disclosure"
    code = -32102


class DisclosureMismatch(FinanceError):
    reason = "disclosure_mismatch"
    code = -32103


class BadHolderSignature(FinanceError):
    reason = "bad_holder_signature"
    code = -32104


class ChallengeMismatch(FinanceError):
    reason = "challenge_mismatch"
    code = -32105


class PredicateFalse(FinanceError):
    reason = "predicate_false"
    code = -32106


class ClaimInvalid(FinanceError):
    """The on-chain claim does not hold; `reason` is the registry's own code (not_verified, claim_expired...)."""

    code = -32107

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.claim_reason = reason

    def to_data(self) -> dict[str, str]:
        return {"reason": self.claim_reason}


# -- applications to the KYC issuer service --------------------------------------------------


class BadApplication(FinanceError):
    reason = "bad_application"
    code = -32110


class BadCiphertext(FinanceError):
    reason = "bad_ciphertext"
    code = -32111


class BadApplicationSignature(FinanceError):
    reason = "bad_application_signature"
    code = -32112


class ApplicationReplay(FinanceError):
    reason = "application_replay"
    code = -32113

    def __init__(self, message: str, application_id: str) -> None:
        super().__init__(message)
        self.application_id = application_id

    def to_data(self) -> dict[str, str]:
        return {"reason": self.reason, "id": self.application_id}


class ApplicationTooLarge(FinanceError):
    reason = "application_too_large"
    code = -32114


class ApplicationStale(FinanceError):
    reason = "application_stale"
    code = -32115


class ApplicationPending(FinanceError):
    """Only a correctly signed application gets here, so `data.id` tells the applicant alone its open one."""

    reason = "application_pending"
    code = -32116

    def __init__(self, message: str, application_id: str) -> None:
        super().__init__(message)
        self.application_id = application_id

    def to_data(self) -> dict[str, str]:
        return {"reason": self.reason, "id": self.application_id}


class WrongIssuer(FinanceError):
    reason = "wrong_issuer"
    code = -32117


class ApplicationNotFound(FinanceError):
    reason = "application_not_found"
    code = -32118


class BadTransition(FinanceError):
    """The operation does not apply to the application's state (approve a rejected one, erase a pending one)."""

    reason = "bad_state"
    code = -32119


class Unauthorized(FinanceError):
    reason = "unauthorized"
    code = -32120


class AttestFailed(FinanceError):
    """The attest transaction was refused by the node or reverted; `detail` is the chain's reason."""

    reason = "attest_failed"
    code = -32121


ALL_ERRORS: tuple[type[FinanceError], ...] = (
    BadDocument, BadDisclosure, DisclosureMismatch, BadHolderSignature, ChallengeMismatch, PredicateFalse,
    ClaimInvalid, BadApplication, BadCiphertext, BadApplicationSignature, ApplicationReplay, ApplicationTooLarge,
    ApplicationStale, ApplicationPending, WrongIssuer, ApplicationNotFound, BadTransition, Unauthorized, AttestFailed,
)


# -- custodians of the regulated stablecoins -------------------------------------------------


class ContractRefused(FinanceError):
    """The contract refuses the operation; `reason` is the contract's own code (deposit_ref_used, blacklisted...)."""

    code = -32130

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.contract_reason = reason

    def to_data(self) -> dict[str, str]:
        return {"reason": self.contract_reason}


# -- travel-rule data of cross-border payments (finance/travel.py) ---------------------------


class BadTravelData(FinanceError):
    """The originator/beneficiary data, its envelope or a request for it is malformed."""

    reason = "bad_travel_data"
    code = -32140


class TravelNotFound(FinanceError):
    reason = "travel_not_found"
    code = -32141


class TravelForbidden(FinanceError):
    """The request is not signed by the originator's or the beneficiary's key, or is too old."""

    reason = "travel_forbidden"
    code = -32142


class TravelMismatch(FinanceError):
    """The ciphertext does not hash to the payment's travel_ref, or does not decrypt with this key."""

    reason = "travel_mismatch"
    code = -32143
