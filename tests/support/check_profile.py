#!/usr/bin/env python3
"""Checks a WiFi .mobileconfig written by radsync (src/notify/profile.cpp).

    check_profile.py FILE --expect-user alice@example.com --expect-ssid Example Example-5G
    check_profile.py FILE.signed --ca signer-ca.pem --expect-user alice ... --expect-password

An unsigned profile (the file starts with ``<?xml``) is parsed as it is. Anything else is
taken for DER CMS SignedData: it must verify with ``openssl cms -verify`` against ``--ca``
(required then, so a signature is never waved through), and the content it embeds is what
gets checked. Giving ``--ca`` for an unsigned file is an error too: it says a signature was
expected.

Checked: top-level PayloadType "Configuration" and a PayloadContent list; the WiFi payloads'
SSID_STR values are exactly the expected SSIDs; each has EncryptionType WPA2, an
EAPClientConfiguration with the expected UserName, AcceptEAPTypes [25] (PEAP) or [21] (TTLS,
with TTLSInnerAuthentication), and UserPassword present or absent as asked; PayloadUUIDs are
distinct; a com.apple.security.root payload, if any, is the anchor every WiFi payload names.

Exit status 0 when every check passes; otherwise one line per failure and status 1.
Standard library and the openssl command only, for the e2e tests.
"""

from __future__ import annotations

import argparse
import plistlib
import subprocess
import sys
from pathlib import Path

EAP_TYPES = {"peap": 25, "ttls": 21}


def load(path: Path, ca: str | None, openssl: str) -> dict:
    raw = path.read_bytes()
    if raw.startswith(b"<?xml"):
        if ca is not None:
            raise ValueError(f"{path} is an unsigned profile, but --ca asked for a signed one")
        content = raw
    else:
        if ca is None:
            raise ValueError(f"{path} is not XML, so it must be signed: give --ca to verify it")
        # -binary: the content is the plist byte for byte, no S/MIME line-end translation.
        proc = subprocess.run(
            [openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(path),
             "-CAfile", ca, "-out", "-"],
            capture_output=True, timeout=30, check=False)
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip()
            raise ValueError(f"{path}: signature does not verify against {ca}: {detail}")
        content = proc.stdout
    try:
        top = plistlib.loads(content, fmt=plistlib.FMT_XML)
    except Exception as e:  # plistlib raises several types for malformed XML
        raise ValueError(f"{path}: not a valid XML property list: {e}") from e
    if not isinstance(top, dict):
        raise ValueError(f"{path}: the property list is not a dictionary")
    return top


def check(top: dict, args: argparse.Namespace) -> list[str]:
    problems: list[str] = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    expect(top.get("PayloadType") == "Configuration",
           f"top-level PayloadType is {top.get('PayloadType')!r}, not 'Configuration'")
    expect(top.get("PayloadVersion") == 1, "top-level PayloadVersion is not 1")
    if args.expect_identifier is not None:
        expect(top.get("PayloadIdentifier") == args.expect_identifier,
               f"PayloadIdentifier is {top.get('PayloadIdentifier')!r}, "
               f"not {args.expect_identifier!r}")
    content = top.get("PayloadContent")
    if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
        problems.append("PayloadContent is not a list of dictionaries")
        return problems

    uuids = [top.get("PayloadUUID")] + [p.get("PayloadUUID") for p in content]
    expect(all(isinstance(u, str) and u for u in uuids), "a payload has no PayloadUUID")
    expect(len(set(uuids)) == len(uuids), f"PayloadUUIDs are not distinct: {uuids}")

    wifi = [p for p in content if p.get("PayloadType") == "com.apple.wifi.managed"]
    roots = [p for p in content if p.get("PayloadType") == "com.apple.security.root"]
    ssids = [p.get("SSID_STR") for p in wifi]
    expect(len(ssids) == len(set(ssids)), f"an SSID has more than one WiFi payload: {ssids}")
    expect(set(ssids) == set(args.expect_ssid),
           f"WiFi payloads are for SSIDs {sorted(map(str, ssids))}, "
           f"expected {sorted(args.expect_ssid)}")

    expect(len(roots) <= 1, f"{len(roots)} com.apple.security.root payloads, expected at most 1")
    anchor = [roots[0].get("PayloadUUID")] if roots else None
    if roots:
        expect(isinstance(roots[0].get("PayloadContent"), bytes) and roots[0]["PayloadContent"],
               "the root payload's PayloadContent is not certificate data")
    if args.expect_root is not None:
        expect(bool(roots) == args.expect_root,
               "no com.apple.security.root payload" if args.expect_root
               else "unexpected com.apple.security.root payload")

    for payload in wifi:
        name = f"WiFi payload {payload.get('SSID_STR')!r}"
        expect(payload.get("EncryptionType") == "WPA2",
               f"{name}: EncryptionType is {payload.get('EncryptionType')!r}, not 'WPA2'")
        eap = payload.get("EAPClientConfiguration")
        if not isinstance(eap, dict):
            problems.append(f"{name}: no EAPClientConfiguration dictionary")
            continue
        expect(eap.get("UserName") == args.expect_user,
               f"{name}: UserName is {eap.get('UserName')!r}, not {args.expect_user!r}")
        types = eap.get("AcceptEAPTypes")
        wanted = [[EAP_TYPES[args.expect_eap]]] if args.expect_eap else [[25], [21]]
        expect(types in wanted, f"{name}: AcceptEAPTypes is {types!r}, expected one of {wanted}")
        if types == [21]:
            expect(eap.get("TTLSInnerAuthentication") == "MSCHAPv2",
                   f"{name}: TTLS without TTLSInnerAuthentication MSCHAPv2")
        if args.expect_no_password:
            expect("UserPassword" not in eap, f"{name}: has a UserPassword, expected none")
        elif args.expect_password is not None:
            if "UserPassword" not in eap:
                problems.append(f"{name}: no UserPassword, expected one")
            elif isinstance(args.expect_password, str):
                # The value itself is never printed: it is a credential.
                expect(eap["UserPassword"] == args.expect_password,
                       f"{name}: UserPassword differs from the expected one")
        if anchor is not None:
            expect(eap.get("PayloadCertificateAnchorUUID") == anchor,
                   f"{name}: PayloadCertificateAnchorUUID is "
                   f"{eap.get('PayloadCertificateAnchorUUID')!r}, not the root payload's {anchor}")
        else:
            expect("PayloadCertificateAnchorUUID" not in eap,
                   f"{name}: names an anchor, but the profile has no root payload")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the .mobileconfig (XML, or DER signed)")
    parser.add_argument("--ca", help="PEM the signature must verify against (signed files)")
    parser.add_argument("--expect-user", required=True, help="EAP UserName of every payload")
    parser.add_argument("--expect-ssid", required=True, action="extend", nargs="+",
                        metavar="SSID", help="the SSIDs, exactly (repeatable)")
    parser.add_argument("--expect-eap", choices=sorted(EAP_TYPES),
                        help="the EAP method; either is accepted when not given")
    parser.add_argument("--expect-identifier", help="top-level PayloadIdentifier")
    root = parser.add_mutually_exclusive_group()
    root.add_argument("--expect-root", dest="expect_root", action="store_true", default=None,
                      help="require a com.apple.security.root payload")
    root.add_argument("--expect-no-root", dest="expect_root", action="store_false",
                      help="require none")
    pw = parser.add_mutually_exclusive_group()
    pw.add_argument("--expect-password", nargs="?", const=True, metavar="VALUE",
                    help="require UserPassword (equal to VALUE if given)")
    pw.add_argument("--expect-no-password", action="store_true", help="require no UserPassword")
    parser.add_argument("--openssl", default="openssl", help="openssl command (default: %(default)s)")
    args = parser.parse_args(argv)

    try:
        top = load(args.file, args.ca, args.openssl)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        print(f"check_profile: {e}", file=sys.stderr)
        return 1
    problems = check(top, args)
    for p in problems:
        print(f"check_profile: {args.file}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_profile: {args.file}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
