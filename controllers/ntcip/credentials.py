"""SNMP credentials for a signal controller: SNMPv3 authPriv by default, v2c when configured.

Secrets never live in a config file that is committed or logged: a config names *where* a
secret is (an environment variable or a file readable only by the daemon's user) and
:meth:`CredentialsConfig.resolve` reads it once. The resolved :class:`V3Credentials` /
:class:`V2cCredentials` keep keys in pydantic ``SecretStr``, so their ``repr``/``str``, log
lines and tracebacks show ``**********``.

Example (site YAML)::

    snmp:
      user: phasewise
      auth_key_env: PHASEWISE_SNMP_AUTH_KEY     # or auth_key_file: /etc/phasewise/auth.key
      priv_key_env: PHASEWISE_SNMP_PRIV_KEY

    credentials = CredentialsConfig.model_validate(raw["snmp"]).resolve()
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from phasewise_errors import ConfigError

AuthProtocol = Literal["SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["AES", "AES192", "AES256"]

MIN_KEY_CHARS = 8
"""RFC 3414 (USM) passphrases are at least 8 characters; shorter ones are refused by agents."""


class V3Credentials(BaseModel):
    """SNMPv3 USM user with authentication and privacy (authPriv)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal["v3"] = "v3"
    user: str = Field(min_length=1)
    auth_key: SecretStr
    priv_key: SecretStr
    auth_protocol: AuthProtocol = "SHA"
    priv_protocol: PrivProtocol = "AES"
    context_name: str = ""
    """SNMPv3 context; empty for NTCIP controllers (snmpsim selects its data file by it)."""

    @model_validator(mode="after")
    def _key_lengths(self) -> V3Credentials:
        for name in ("auth_key", "priv_key"):
            if len(getattr(self, name).get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"{name} must have at least {MIN_KEY_CHARS} characters (RFC 3414)")
        return self


class V2cCredentials(BaseModel):
    """SNMPv2c community (no authentication, no privacy: only on an isolated cabinet network)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal["v2c"] = "v2c"
    community: SecretStr


Credentials = Union[V3Credentials, V2cCredentials]


def read_secret(what: str, env: str | None, file: Path | None, environ: Mapping[str, str] | None = None) -> SecretStr:
    """A secret from environment variable ``env`` or the first line of ``file``.

    Raises ``ConfigError`` naming the variable or file (never the value) when it is missing.
    """
    environ = os.environ if environ is None else environ
    if env:
        value = environ.get(env)
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is not set (export it, or use a key file)")
        return SecretStr(value)
    if file is not None:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read key file {file} ({exc.strerror})") from None
        except UnicodeDecodeError as exc:  # the message names the byte's position, never its value
            raise ConfigError(f"{what}: key file {file} is not UTF-8 text (byte {exc.start}); the first line "
                              "must hold the key as text") from None
        if not lines or not lines[0].strip():
            raise ConfigError(f"{what}: key file {file} is empty")
        return SecretStr(lines[0].strip())
    raise ConfigError(f"{what}: give an environment variable or a key file")


class CredentialsConfig(BaseModel):
    """Where the credentials are: safe to load from YAML, log and print (holds no secret).

    Either ``community_env``/``community_file`` (v2c) or ``user`` with the auth and privacy
    keys' env variables or files (v3 authPriv, the default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str | None = None
    auth_key_env: str | None = None
    auth_key_file: Path | None = None
    priv_key_env: str | None = None
    priv_key_file: Path | None = None
    auth_protocol: AuthProtocol = "SHA"
    priv_protocol: PrivProtocol = "AES"
    context_name: str = ""
    community_env: str | None = None
    community_file: Path | None = None

    @model_validator(mode="after")
    def _one_version(self) -> CredentialsConfig:
        v2c = self.community_env is not None or self.community_file is not None
        if v2c and self.user is not None:
            raise ValueError("give either a v3 'user' (with keys) or a v2c community, not both")
        if not v2c and self.user is None:
            raise ValueError("give a v3 'user' with auth/priv keys (or community_env for v2c)")
        return self

    def resolve(self, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read the secrets (``ConfigError`` when one is missing or malformed)."""
        if self.user is None:
            return V2cCredentials(community=read_secret("SNMP community", self.community_env, self.community_file, environ))
        auth = read_secret("SNMPv3 auth key", self.auth_key_env, self.auth_key_file, environ)
        priv = read_secret("SNMPv3 priv key", self.priv_key_env, self.priv_key_file, environ)
        try:
            return V3Credentials(
                user=self.user,
                auth_key=auth,
                priv_key=priv,
                auth_protocol=self.auth_protocol,
                priv_protocol=self.priv_protocol,
                context_name=self.context_name,
            )
        except ValueError as exc:  # pydantic ValidationError; its text shows no secret values
            raise ConfigError(f"SNMPv3 credentials for user {self.user!r}: {exc}") from None
