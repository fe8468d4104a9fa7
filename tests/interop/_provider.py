"""Drive a real oidc-provider (``provider.js``) from the tests: start, stop, get tokens.

Every call is plain HTTP to 127.0.0.1 with the standard library, as a client of the
provider would make it: client credentials with an RFC 8707 resource indicator, CIBA for
an ID token, a DPoP proof (RFC 9449 §4) for a bound token, RFC 7009 revocation, and the
tests' own ``/interop/keys`` surface for key rotation.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import select
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "provider.js"
PAYMENTS = "https://payments.example/api"
LEDGER = "https://ledger.example/api"
DASHBOARD = ("payments-dashboard", "dashboard-secret-for-the-interop-tests")
"""The confidential client that asks for tokens (config.js)."""
RESOURCE_SERVER = ("payments-api", "payments-api-secret-for-the-interop-tests")
"""The payments API's own credentials at the provider, for introspection."""
START_SECONDS = 15.0


class ProviderError(RuntimeError):
    """The provider did not start, or answered a request with an error."""


class Provider:
    """One oidc-provider process on 127.0.0.1; ``start`` again reuses its port and keys."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.keys_file = workdir / "jwks.json"
        self.log_file = workdir / "provider.log"
        self.port = 0
        self.issuer = ""
        self.metadata: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self.start_seconds = 0.0
        """How long the last ``start`` took, up to a served discovery document."""

    # -- the process ----------------------------------------------------------------

    def start(self) -> None:
        """Start node, wait for its address line, then for its discovery document."""
        if self._process is not None:
            return
        node = shutil.which("node")
        if node is None:
            raise ProviderError("node is not on PATH")
        began = time.monotonic()
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [node, str(SCRIPT), str(self.port), str(self.keys_file)],
                cwd=HERE,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, "NODE_ENV": "test"},
            )
        self._process = process
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_SECONDS)
        line = process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise ProviderError(f"oidc-provider did not start: {self.log_tail()}")
        self.issuer = json.loads(line)["issuer"]
        self.port = int(self.issuer.rsplit(":", 1)[1])
        deadline = began + START_SECONDS
        while True:
            try:
                self.metadata = self.get_json("/.well-known/openid-configuration")
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ProviderError(f"no discovery document: {self.log_tail()}") from None
                time.sleep(0.05)
        self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the process: its port refuses connections from now on."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def log_tail(self) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return text[-2000:] or "(no output)"

    # -- endpoints ------------------------------------------------------------------

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])

    @property
    def introspection_endpoint(self) -> str:
        return str(self.metadata["introspection_endpoint"])

    def get_json(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.issuer + path, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def _send(
        self,
        url: str,
        form: dict[str, str] | None = None,
        *,
        method: str = "POST",
        client: tuple[str, str] = DASHBOARD,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        basic = base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ProviderError(f"{url}: {exc.code} {exc.read()[:300]!r}") from None
        return json.loads(raw) if raw else None

    def token_response(
        self,
        *,
        resource: str = PAYMENTS,
        scope: str = "payments.get",
        alg: str | None = None,
        ttl: int | None = None,
        opaque: bool = False,
        dpop_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> dict[str, Any]:
        """The token endpoint's JSON for a client-credentials grant (RFC 6749 §4.4)."""
        # config.js reads the variant from the resource indicator's query (RFC 8707 §2).
        query = {
            "alg": alg,
            "ttl": str(ttl) if ttl else None,
            "format": "opaque" if opaque else None,
        }
        query_string = urllib.parse.urlencode({k: v for k, v in query.items() if v})
        indicator = f"{resource}?{query_string}" if query_string else resource
        endpoint = str(self.metadata["token_endpoint"])
        headers = {} if dpop_key is None else {"DPoP": dpop_proof(dpop_key, "POST", endpoint)}
        form = {"grant_type": "client_credentials", "resource": indicator, "scope": scope}
        return self._send(endpoint, form, headers=headers)  # type: ignore[no-any-return]

    def token(self, **options: Any) -> str:
        """A JWT access token (RS256 unless ``alg=``) for ``resource`` with ``scope``."""
        return str(self.token_response(**options)["access_token"])

    def opaque_token(self, **options: Any) -> str:
        """An opaque access token, for introspection (RFC 7662)."""
        return self.token(opaque=True, **options)

    def dpop_token(self, **options: Any) -> str:
        """A JWT access token bound to a fresh key (``cnf.jkt``, RFC 9449 §6)."""
        response = self.token_response(dpop_key=ec.generate_private_key(ec.SECP256R1()), **options)
        assert response["token_type"] == "DPoP"
        return str(response["access_token"])

    def id_token(self, login_hint: str = "alice") -> str:
        """A real OpenID Connect ID token for ``login_hint``, through CIBA's poll mode."""
        started = self._send(
            str(self.metadata["backchannel_authentication_endpoint"]),
            {"scope": "openid", "login_hint": login_hint},
        )
        response = self._send(
            str(self.metadata["token_endpoint"]),
            {
                "grant_type": "urn:openid:params:grant-type:ciba",
                "auth_req_id": started["auth_req_id"],
            },
        )
        return str(response["id_token"])

    def revoke(self, token: str) -> None:
        """Revoke an opaque token at the provider (RFC 7009)."""
        self._send(str(self.metadata["revocation_endpoint"]), {"token": token})

    def introspect(self, token: str) -> dict[str, Any]:
        """What the provider itself says of ``token`` (RFC 7662 §2.2)."""
        answer = self._send(self.introspection_endpoint, {"token": token}, client=RESOURCE_SERVER)
        return answer  # type: ignore[no-any-return]

    # -- key rotation (provider.js's /interop/keys) ---------------------------------

    def publish_key(self, alg: str = "RS256") -> str:
        """Publish a new key in the JWKS, last: verifiable, not yet signing. Its kid."""
        body = json.dumps({"alg": alg}).encode()
        answer = self._send(self.issuer + "/interop/keys", body=body)
        return str(answer["kid"])

    def sign_with(self, kid: str) -> None:
        """Make the published key ``kid`` the one that signs its algorithm from now on."""
        self._send(f"{self.issuer}/interop/keys/{kid}/sign", body=b"")

    def retire_key(self, kid: str) -> None:
        """Stop publishing ``kid``."""
        self._send(f"{self.issuer}/interop/keys/{kid}", method="DELETE")


def dpop_proof(key: ec.EllipticCurvePrivateKey, method: str, url: str) -> str:
    """A DPoP proof JWT for one request (RFC 9449 §4.2), signed ES256."""
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
