"""The one error the encoder raises: a construct it cannot represent faithfully.

Analyses turn it into an `unknown` answer naming the construct and the policy; the encoder
never encodes something it is unsure of.
"""

from __future__ import annotations


class EncodeError(Exception):
    """A policy (or value) the encoder cannot represent; the message names what and where."""

    def __init__(self, message: str, policy_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.policy_id = policy_id

    def __str__(self) -> str:
        return f"policy `{self.policy_id}`: {self.message}" if self.policy_id else self.message
