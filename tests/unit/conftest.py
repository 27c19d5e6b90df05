"""The unit tests' one fixture: tshark judges every reply a test module decoded.

scapy is an independent oracle here: requests are built with scapy layers
(tests/helpers/builders.py) and every reply the fast codec produces is decoded by scapy,
its checksums recomputed by scapy, and its options walked by small hand-written RFC
readers as a second opinion (tests/helpers/decode.py). Every frame `decode_frame`/
`decode_frame6` sees is also gathered for tshark (tests/oracle.py): at the end of each
test module one tshark run decodes them all, and any Malformed mark or Expert Info of
severity warning or error fails the module.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

from .. import oracle
from ..helpers.decode import TSHARK


@pytest.fixture(scope="module", autouse=True)
def tshark_oracle() -> Iterator[None]:
    """One tshark run per module over the replies its tests decoded (tests/oracle.py).

    Without tshark the check is skipped with a warning on a developer machine and
    fails in CI, where scripts/setup installs it."""
    TSHARK.frames.clear()
    TSHARK.origins.clear()
    yield
    if not TSHARK.frames:
        return
    if oracle.tshark() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark missing in CI (scripts/setup installs it)", pytrace=False)
        warnings.warn("tshark not installed: replies not checked by it", stacklevel=1)
        return
    found = TSHARK.check()
    if found:
        pytest.fail(oracle.report(found, "replies decoded by this module"), pytrace=False)
