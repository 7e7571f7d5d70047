"""Forwarded answers in the tests: reading one that does not come whole."""

from __future__ import annotations

import pytest
from werkzeug.test import TestResponse

AnswerCutOff = ConnectionResetError  # TEMP


def read_cut_off(rv: TestResponse) -> bytes:
    """The bytes of a streamed answer that ends with AnswerCutOff (fail if it comes whole):
    what a WSGI server passes on before it ends the connection without ending the answer."""
    received: list[bytes] = []
    with pytest.raises(AnswerCutOff):
        for chunk in rv.response:
            received.append(chunk)
    rv.close()
    return b"".join(received)
