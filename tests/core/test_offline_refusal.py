"""An owner's ``accepts`` may refuse a malformed token offline (L-01, C-03)."""

from __future__ import annotations

import pytest

from bearerguard import Guard, MissingCredentialsError, Principal, UnauthenticatedError


class PrefixVerifier:
    """Owns ``pre_`` tokens; only ``pre_ok`` is well formed."""

    kind = "client"

    def __init__(self, error: UnauthenticatedError | None = None) -> None:
        self.verified = 0
        self.error = error or UnauthenticatedError("The client token is malformed")

    def accepts(self, token: str) -> bool:
        if not token.startswith("pre_"):
            return False
        if token != "pre_ok":
            raise self.error
        return True

    def verify(self, token: str) -> Principal:
        self.verified += 1
        return Principal(kind="client", subject="ok", scopes=frozenset({"a"}))


class Never:
    kind = "other"

    def __init__(self) -> None:
        self.asked = 0

    def accepts(self, token: str) -> bool:
        self.asked += 1
        return False

    def verify(self, token: str) -> Principal:  # pragma: no cover - never owns a token
        raise AssertionError


def test_L01_offline_refusal_is_401_with_the_owners_description() -> None:
    owner, other = PrefixVerifier(), Never()
    guard = Guard([owner, other])
    with pytest.raises(UnauthenticatedError) as caught:
        guard.authenticate("Bearer pre_bad")
    assert caught.value.error_code == "invalid_token"
    assert caught.value.description == "The client token is malformed"
    assert owner.verified == 0
    assert other.asked == 0  # C-11: the owner's refusal is final


def test_L01_offline_refusals_are_not_cached_and_do_not_block_good_tokens() -> None:
    owner = PrefixVerifier()
    guard = Guard([owner])
    for index in range(50):
        with pytest.raises(UnauthenticatedError):
            guard.authenticate(f"Bearer pre_bad{index}")
    assert guard.authenticate("Bearer pre_ok").subject == "ok"
    assert owner.verified == 1
    # Not cached: the same malformed token is judged offline again, never verified.
    with pytest.raises(UnauthenticatedError):
        guard.authenticate("Bearer pre_bad0")
    assert owner.verified == 1


@pytest.mark.anyio
async def test_L01_offline_refusal_under_asgi_never_takes_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anyio.to_thread

    hops = 0
    real = anyio.to_thread.run_sync

    async def counting(*args: object, **kwargs: object) -> object:
        nonlocal hops
        hops += 1
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    guard = Guard([PrefixVerifier()])
    with pytest.raises(UnauthenticatedError):
        await guard.acheck("GET", "/x", "Bearer pre_bad")
    assert hops == 0
    assert (await guard.acheck("GET", "/x", "Bearer pre_ok")) is not None
    assert hops == 1


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(UnauthenticatedError("bad pre_secret-token"), id="quotes-token"),
        pytest.param(MissingCredentialsError(), id="missing-credentials"),
    ],
)
def test_W03_offline_refusal_never_echoes_the_token(error: UnauthenticatedError) -> None:
    guard = Guard([PrefixVerifier(error)])
    with pytest.raises(UnauthenticatedError) as caught:
        guard.authenticate("Bearer pre_secret-token")
    assert caught.value.error_code == "invalid_token"
    assert caught.value.description == "The access token is invalid"
