"""What ``serve`` warns the operator about before it starts: settings that protect less than they seem to.

Browsers do not separate cookies by port: every service reachable under the app's host name (any port) receives
the app's identity cookie when a student visits it, and can set one. No cookie design prevents that on plain
HTTP; :func:`shared_host_warning` names the other services it finds listening on this machine, so the operator
can give the app a host name of its own (see docs/SCALE_OUT.md, *What is protected*).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cnn_demo.settings import Settings

_LISTEN = "0A"


def _address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    # IPv6 in /proc: four 32-bit words, each in host (little-endian) order
    return ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def listening(proc_net: Path = Path("/proc/net")) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """Every (address, port) a TCP socket on this machine listens on (Linux; empty elsewhere)."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != _LISTEN:
                continue
            addr, _, port = fields[1].partition(":")
            try:
                found.append((_address(addr), int(port, 16)))
            except ValueError:
                continue
    return found


def _reachable_alike(ours: str | None, theirs: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a browser reaching the app under its host name could reach ``theirs`` under the same name."""
    if theirs.is_unspecified:
        return True
    if ours in (None, "", "0.0.0.0", "::"):
        return not theirs.is_loopback
    try:
        mine = ipaddress.ip_address(ours)
    except ValueError:  # a host name: compare nothing, warn about the wildcard listeners only
        return False
    if mine.is_loopback:  # behind a proxy on this machine: the proxy's name is this machine's
        return not theirs.is_loopback
    return theirs == mine


def shared_host_warning(port: int, address: str | None, sockets=None) -> str | None:
    """A warning naming the other services reachable under the app's host name, or ``None`` when there are none."""
    found = listening() if sockets is None else sockets
    ports = sorted({p for a, p in found if p != port and _reachable_alike(address, a)})
    if not ports:
        return None
    listed = ", ".join(map(str, ports[:12])) + (f" and {len(ports) - 12} more" if len(ports) > 12 else "")
    return (
        f"warning: other services listen on this machine (port {listed}). Browsers send this app's identity cookie "
        "to every port of the host name they reach it under, and a service there can set it too: whoever runs one "
        "of them can act as the students who visit it. Give the app a host name of its own, with HTTPS (the cookie "
        "is then __Host- and Secure, out of reach of plain-HTTP services), or configure sign-in; if one of them is "
        "the reverse proxy in front of this app, that one is fine. See docs/SCALE_OUT.md, 'What is protected'."
    )


def settings_warnings(s: Settings) -> list[str]:
    """Settings that do less than an operator may think."""
    out = []
    headers = [h for h in (s.trusted_user_header, s.trusted_address_header) if h]
    if headers and not s.trusted_proxies:
        out.append(
            f"warning: {' and '.join(headers)} will be ignored: CNN_DEMO_TRUSTED_PROXIES does not name the proxy "
            "that sets them (headers are believed only on connections from the proxies listed there)."
        )
    return out
