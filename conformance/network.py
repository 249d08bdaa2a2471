"""How the run reaches a real control plane: TLS (a corporate CA, a client certificate, or no
verification at all), a proxy, timeouts, a rate limit to be a good citizen on a shared staging, and
how long the run may wait out a throttling gateway (its patience). Read from the credentials file's `[target]` table; the
one GuardedClient of the run (conformance/transport.py) applies it to every request: the suite's own,
Schemathesis', and sweep's. httpx also honours the usual environment (HTTPS_PROXY, SSL_CERT_FILE)."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

NETWORK_KEYS = ("ca_bundle", "client_cert", "client_key", "proxy", "verify", "timeout", "rate_limit", "patience")


class NetworkError(Exception):
    """A network setting is wrong; the message is one line naming the setting."""


@dataclass(frozen=True)
class Network:
    ca_bundle: Path | None = None  # PEM file of the CA(s) that signed the target's certificate
    client_cert: Path | None = None  # PEM certificate for mutual TLS (with client_key, or a combined PEM)
    client_key: Path | None = None
    proxy: str | None = None
    verify: bool = True  # false: accept any certificate (a warning is printed once)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    rate_limit: float | None = None  # requests per second, at most (the run paces itself below it when throttled)
    patience: float = 900.0  # seconds the whole run may spend waiting out throttled answers and resets
    give_up_after: int = 3  # consecutive requests without an answer: the target stopped answering
    throttle_retries: int = 30  # and one request is sent again at most this often

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments of httpx.Client that carry these settings."""
        options: dict[str, Any] = {
            "timeout": httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
            "verify": self.ssl_context() if self.verify else False,
        }
        if self.proxy:
            options["proxy"] = self.proxy
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: the CA bundle (or the system's and certifi's defaults) and the client certificate."""
        if not self.ca_bundle and not self.client_cert:
            return DefaultTrust()
        try:
            context = ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)
            if not self.ca_bundle:
                import certifi

                context.load_verify_locations(certifi.where())
        except (ssl.SSLError, OSError) as exc:
            raise NetworkError(f"[target] ca_bundle {self.ca_bundle}: not a PEM CA bundle ({exc})") from None
        if self.client_cert:
            try:
                key = str(self.client_key) if self.client_key else None
                context.load_cert_chain(str(self.client_cert), key)
            except (ssl.SSLError, OSError) as exc:
                raise NetworkError(
                    f"[target] client_cert/client_key {self.client_cert}: not a PEM certificate and key ({exc})"
                ) from None
        return context


class DefaultTrust(ssl.SSLContext):
    """The system's and certifi's CAs, as ssl.create_default_context() and certifi give them, read on the
    first TLS connection: a run against a plain-HTTP target (the embedded reference) never reads them, and
    reading them is ~40 ms of CPU in every run and every worker. Nothing here can be wrong in a settings
    file: a ca_bundle or client certificate, which can, is read at once (Network.ssl_context)."""

    def __new__(cls) -> DefaultTrust:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # verify_mode CERT_REQUIRED, check_hostname

    def __init__(self) -> None:
        self._read = False
        self._lock = threading.Lock()

    def _trust(self) -> None:
        with self._lock:
            if not self._read:
                import certifi

                self.load_default_certs(ssl.Purpose.SERVER_AUTH)
                self.load_verify_locations(certifi.where())
                self._read = True

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._trust()
        return super().wrap_bio(*args, **kwargs)


def load_network(table: dict[str, Any], where: str) -> Network:
    """The network settings of a credentials file's [target] table; NetworkError in one line."""
    values: dict[str, Any] = {}
    for key in ("ca_bundle", "client_cert", "client_key"):
        if key in table:
            path = table[key]
            if not isinstance(path, str) or not path.strip():
                raise NetworkError(f"{where}: {key} must be the path of a PEM file")
            if not Path(path).expanduser().is_file():
                raise NetworkError(f"{where}: {key} {path!r} is not a file")
            values[key] = Path(path).expanduser()
    if "client_key" in values and "client_cert" not in values:
        raise NetworkError(f"{where}: client_key needs client_cert")
    if "proxy" in table:
        proxy = table["proxy"]
        parsed = urlparse(proxy) if isinstance(proxy, str) else None
        if parsed is None or parsed.scheme not in ("http", "https", "socks5") or not parsed.netloc:
            raise NetworkError(f"{where}: proxy {proxy!r} is not a proxy URL (example: http://proxy.example.com:3128)")
        values["proxy"] = proxy
    if "verify" in table:
        if not isinstance(table["verify"], bool):
            raise NetworkError(f"{where}: verify must be true or false")
        values["verify"] = table["verify"]
        if not table["verify"] and "ca_bundle" in values:
            raise NetworkError(f"{where}: give ca_bundle or verify = false, not both")
    if "timeout" in table:
        timeout = table["timeout"]
        if isinstance(timeout, dict):
            unknown = set(timeout) - {"connect", "read"}
            if unknown:
                raise NetworkError(f"{where}: timeout has unknown key(s) {', '.join(sorted(unknown))} (connect, read)")
            values["connect_timeout"] = _positive(timeout.get("connect", 10.0), f"{where}: timeout.connect")
            values["read_timeout"] = _positive(timeout.get("read", 30.0), f"{where}: timeout.read")
        else:
            values["connect_timeout"] = values["read_timeout"] = _positive(timeout, f"{where}: timeout")
    if "rate_limit" in table:
        values["rate_limit"] = _positive(table["rate_limit"], f"{where}: rate_limit (requests per second)")
    if "patience" in table:
        values["patience"] = _positive(
            table["patience"], f"{where}: patience (seconds of waiting on a throttling target)"
        )
    return Network(**values)


def _positive(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise NetworkError(f"{what} must be a number of seconds > 0, not {value!r}")
    return float(value)


def describe_tls_failure(exc: Exception, network: Network) -> str | None:
    """One line for a TLS handshake the target or this side refused, naming the setting to fix."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        if network.ca_bundle:
            return (
                f"the target's TLS certificate is not signed by a CA in [target] ca_bundle {network.ca_bundle} "
                "(give the bundle of the CA that signed it)"
            )
        return (
            "the target's TLS certificate is not trusted (a corporate or self-made CA?): set [target] ca_bundle "
            "to the CA's PEM bundle, or verify = false to accept any certificate"
        )
    if "WRONG_VERSION_NUMBER" in text or "record layer failure" in text:
        return "the target does not speak TLS on this port: use http:// in the target URL, or the right port"
    if "CERTIFICATE_REQUIRED" in text or "certificate required" in text or "BAD_CERTIFICATE" in text:
        return "the target refused this side's TLS client certificate: set [target] client_cert and client_key"
    return None
