"""The one configuration object of a run: which target, with which credentials, how deep, tagged how.

Built once from command-line options and environment variables by the plugin, then handed to
fixtures. Nothing else reads the environment. Every problem is a `ConfigError` whose message is
one line that says what to fix.
"""

from __future__ import annotations

import secrets as _secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .network import NETWORK_KEYS, Network, NetworkError, load_network
from .secret import Secret

ROLES = ("operator", "admin", "viewer", "peer")
GRANTS = ("client_credentials", "app_token")  # how a role's client id and secret become a token
TAG_PREFIX = "rcf-"  # every name a run creates starts with this, then the run id


class ConfigError(Exception):
    """Bad input to the suite (options, credentials file, target); the message is one line."""


@dataclass(frozen=True)
class Profile:
    """How hard a run pushes: examples per fuzzed operation, property examples, state machine depth."""

    name: str
    fuzz_examples: int
    property_examples: int
    stateful_examples: int
    stateful_steps: int
    shrink_seconds: float  # how long Hypothesis may shrink one failure against the target
    look_every: int = 1  # of the fuzzed requests that must change nothing, every n-th gets a look before and after
    later_seconds: float = 5.0  # how long what a test saw ages before it is judged again (conformance/test_later.py)
    later_sample: int = 30  # of each kind of fact the run learned, how many are judged again at its end
    simultaneous: int = 6  # requests in a batch sent at once (conformance/test_simultaneous.py)
    simultaneous_rounds: int = 2  # batches of each kind
    volume: int = 120  # users in the large population the listing clauses are judged on too (test_volume.py)
    reproduce: int = 0  # how often a new failure is replayed at the end of the run, with its example (--reproduce)


PROFILES = {
    "smoke": Profile(
        "smoke",
        fuzz_examples=10,
        property_examples=5,
        stateful_examples=5,
        stateful_steps=10,
        shrink_seconds=10,
        look_every=8,
        later_seconds=4.0,
        later_sample=10,
        simultaneous=4,
        simultaneous_rounds=1,
        volume=30,
    ),
    "ci": Profile(
        "ci",
        fuzz_examples=40,
        property_examples=15,
        stateful_examples=30,
        stateful_steps=20,
        shrink_seconds=20,
        look_every=6,
        later_seconds=5.0,
        later_sample=30,
        simultaneous=6,
        simultaneous_rounds=2,
        volume=120,
    ),
    "nightly": Profile(
        "nightly",
        fuzz_examples=300,
        property_examples=100,
        stateful_examples=200,
        stateful_steps=50,
        shrink_seconds=300,
        look_every=1,
        later_seconds=60.0,
        later_sample=200,
        simultaneous=8,
        simultaneous_rounds=10,
        volume=300,
        reproduce=3,
    ),
}


@dataclass(frozen=True)
class RoleCredentials:
    """How the suite gets a token for one role: client credentials, or a fixed token."""

    role: str
    client_id: str | None = None
    client_secret: Secret | None = None
    token: Secret | None = None
    grant: str = "client_credentials"  # or app_token (AppId/AppSecret, what Run:ai's runapy sends)

    @property
    def secrets(self) -> list[Secret]:
        return [s for s in (self.client_secret, self.token) if s]


@dataclass(frozen=True)
class Target:
    url: str
    roles: dict[str, RoleCredentials]
    profile: Profile
    read_only: bool = False
    report_dir: Path = Path("reports")
    run_tag: str = field(default_factory=lambda: new_run_tag())
    embedded: bool = False
    credentials_file: Path | None = None
    network: Network = field(default_factory=Network)
    # What the run's processes (its workers) share, a directory: the state of its one pace (conformance/pacing.py),
    # and whether a token's early death has been named yet (conformance/transport.py)
    shared: Path | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def secrets(self) -> list[Secret]:
        """Every configured secret, for redaction."""
        return [s for creds in self.roles.values() for s in creds.secrets]

    def describe(self) -> str:
        """A one-line, secret-free description for report headers."""
        roles = ", ".join(sorted(self.roles))
        where = "embedded reference server at " if self.embedded else ""
        mode = ", read-only" if self.read_only else ""
        return f"{where}{self.url} (roles: {roles}; profile {self.profile.name}; run tag {self.run_tag}{mode})"


def new_run_tag() -> str:
    """`rcf-` and 8 hex digits: fits emails and tenant names, and a sweep can find it."""
    return f"{TAG_PREFIX}{_secrets.token_hex(4)}"


def check_url(url: str, source: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{source}: {url!r} is not an http(s) URL (example: https://staging.example.com)")
    return url.rstrip("/")


def load_credentials(path: Path) -> tuple[str | None, dict[str, RoleCredentials], Network]:
    """The target URL (if the file names one), the roles and the network settings of a credentials file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"credentials file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"credentials file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"credentials file {path} is not valid TOML: {exc}") from None
    url = None
    target = data.get("target", {})
    if not isinstance(target, dict):
        raise ConfigError(f"credentials file {path}: [target] must be a table")
    unknown = set(target) - {"url", *NETWORK_KEYS}
    if unknown:
        raise ConfigError(
            f"credentials file {path}: [target] has unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: url, {', '.join(NETWORK_KEYS)})"
        )
    try:
        network = load_network(target, f"credentials file {path}: [target]")
    except NetworkError as exc:
        raise ConfigError(str(exc)) from None
    if "url" in target:
        if not isinstance(target["url"], str):
            raise ConfigError(f"credentials file {path}: target.url must be a string")
        url = check_url(target["url"], f"credentials file {path}: target.url")
    raw_roles = data.get("roles")
    if not isinstance(raw_roles, dict) or not raw_roles:
        raise ConfigError(f"credentials file {path} has no [roles.admin] table (see README: the credentials file)")
    roles: dict[str, RoleCredentials] = {}
    for role, entry in raw_roles.items():
        if role not in ROLES:
            raise ConfigError(
                f"credentials file {path}: unknown role [roles.{role}] (expected one of {', '.join(ROLES)})"
            )
        roles[role] = _role(path, role, entry)
    if "admin" not in roles:
        raise ConfigError(f"credentials file {path} has no [roles.admin] table; the Users API needs it")
    return url, roles, network


def _role(path: Path, role: str, entry: Any) -> RoleCredentials:
    where = f"credentials file {path}: [roles.{role}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(entry) - {"client_id", "client_secret", "token", "grant"}
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))} (use client_id and client_secret, or token)"
        )
    grant = entry.get("grant", "client_credentials")
    if grant not in GRANTS:
        raise ConfigError(f"{where}: grant {grant!r} is not one of {', '.join(GRANTS)}")
    values = {k: entry.get(k) for k in ("client_id", "client_secret", "token")}
    for key, value in values.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: {key} must be a non-empty string")
    if values["token"]:
        if values["client_id"] or values["client_secret"]:
            raise ConfigError(f"{where}: give either token, or client_id and client_secret, not both")
        return RoleCredentials(role, token=Secret(values["token"]))
    if not values["client_id"] or not values["client_secret"]:
        raise ConfigError(f"{where} needs client_id and client_secret (or token)")
    return RoleCredentials(
        role, client_id=values["client_id"], client_secret=Secret(values["client_secret"]), grant=grant
    )


def build_target(
    *,
    url: str | None,
    credentials: Path | None,
    token: str | None,
    profile: str,
    read_only: bool,
    report_dir: Path,
    embedded_url: str | None = None,
) -> Target:
    """A Target from the already-read options (the plugin reads options and environment; this checks them)."""
    if profile not in PROFILES:
        raise ConfigError(f"--profile {profile!r} is not one of {', '.join(PROFILES)}")
    file_url, roles, network = None, {}, Network()
    if credentials is not None:
        file_url, roles, network = load_credentials(credentials)
    if token is not None:
        if not token.strip():
            raise ConfigError("--token / RUNAI_TOKEN is empty")
        roles = {**roles, "admin": RoleCredentials("admin", token=Secret(token.strip()))}
    if url is not None:
        if not url.strip():
            raise ConfigError(
                "--target-url / RUNAI_TARGET_URL is empty: give the target's base URL, or leave it unset for the embedded reference server"
            )
        url = check_url(url.strip(), "--target-url")
    url = url or file_url or embedded_url
    if url is None:
        raise ConfigError("no target: give --target-url (or RUNAI_TARGET_URL), or a credentials file with [target] url")
    if not roles:
        raise ConfigError(
            "no credentials: give --credentials FILE (or RUNAI_CREDENTIALS), or --token TOKEN (or RUNAI_TOKEN)"
        )
    return Target(
        url=url,
        roles=roles,
        profile=PROFILES[profile],
        read_only=read_only,
        report_dir=report_dir,
        embedded=embedded_url is not None and url == embedded_url,
        credentials_file=credentials,
        network=network,
    )
