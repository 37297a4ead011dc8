"""Rate limiters: GCRA in memory (one process) and in Redis (shared by several instances)."""

from adapters.rate_limit.gcra import GcraLimit
from adapters.rate_limit.memory import InMemoryRateLimiter
from adapters.rate_limit.redis import RedisRateLimiter

__all__ = ["GcraLimit", "InMemoryRateLimiter", "RedisRateLimiter"]
