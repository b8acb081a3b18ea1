"""Password hashing with argon2id.

The plain functions block for the length of a hash (tens of milliseconds of CPU and 64 MiB).
Code on the event loop awaits the `*_off_loop` ones instead: they run in a small pool of
threads of their own, so however many logins arrive at once, at most `HASHING_THREADS` hashes
run together and no request thread or event loop waits on one.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
HASHING_THREADS = max(1, min(os.cpu_count() or 1, 8))
# Threads start on first use; waiting hashes queue here, not in the request thread pool.
_hashing = ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="tocsin-argon2")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


async def hash_password_off_loop(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hashing, hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing, verify_password, password_hash, password)
