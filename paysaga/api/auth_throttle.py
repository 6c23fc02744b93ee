"""Failed authentications, limited per presented key id and per client address.

Only failures are limited, and only failures are ever answered 429: a request whose key
verifies is let through whatever other callers did, so an attacker behind the same NAT
as honest merchants cannot lock them out. A failure is answered 429 instead of 401 once
its key id (the public `psk_test_<16 hex>` prefix) has failed `KEY_BURST` times, or its
address `ADDRESS_BURST` times; both budgets refill over time. A key's secret is 256
random bits, so throttling is not what stops guessing; it makes a misbehaving client
back off and bounds how much failure traffic one address or one key id gets answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from paysaga.security.api_keys import RateLimiter

KEY_BURST: Final = 10  # failures per presented key id, then one every 6 s
KEY_REFILL_PER_S: Final = 10 / 60
ADDRESS_BURST: Final = 100  # failures per client address, then one a second
ADDRESS_REFILL_PER_S: Final = 1.0


@dataclass
class AuthThrottle:
    by_key: RateLimiter = field(default_factory=lambda: RateLimiter(KEY_BURST, KEY_REFILL_PER_S))
    by_address: RateLimiter = field(
        default_factory=lambda: RateLimiter(ADDRESS_BURST, ADDRESS_REFILL_PER_S)
    )

    def failed(self, key_id: str | None, address: str) -> float:
        """Record a failed authentication; seconds to wait if over budget (answer 429), else 0.

        A malformed key has no key id: only its address is counted.
        """
        wait = self.by_address.retry_after(address)
        if key_id is not None:
            wait = max(wait, self.by_key.retry_after(key_id))
        if wait > 0:
            return wait
        self.by_address.record_failure(address)
        if key_id is not None:
            self.by_key.record_failure(key_id)
        return 0.0
