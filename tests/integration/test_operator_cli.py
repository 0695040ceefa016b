#!/usr/bin/env python3
"""The operator's commands against the project's OfficeRnD simulator:

* global options after the subcommand (`radsync status -c FILE`), an unknown command named;
* `mapping check` online and offline (a snapshot file), text and --json: a plan and a location
  the mapping does not cover, an entry that matches nothing, a plan claimed by two groups;
  exit 0 once the mapping is complete;
* `api GET /path`: one authorised read-only call, pretty-printed; other methods and paths that
  leave the organisation are refused;
* --json on status, accounts show (expiry in the location's zone and UTC) and reconcile.

    python3 tests/integration/test_operator_cli.py --radsync build/dev/src/radsync --source-dir .

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, PLAN_HOT, expect_eq, expect_true, member,  # noqa: E402
                             membership, new_id)

ORG = "operator-cowork"
PLAN_MAILBOX = "5f0000000000000000000m01"
LOC_HARBOUR = "5f0000000000000000000l03"


def fixture(member_id: str) -> dict:
    base = tl.locations_and_plans()
    base["plans"].append({"_id": PLAN_MAILBOX, "name": "Mailbox", "code": "MB",
                          "createdAt": tl.CREATED, "modifiedAt": tl.CREATED})
    base["locations"].append({"_id": LOC_HARBOUR, "name": "Harbour", "timezone": "America/New_York",
                              "createdAt": tl.CREATED, "modifiedAt": tl.CREATED})
    return {**base, "companies": [], "passes": [], "bookings": [],
            "members": [member(member_id, "Ann Operator", f"ann@{DOMAIN}", LOC_DOWNTOWN, "pw-ann-1")],
            "memberships": [membership(new_id(), PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                       member_id=member_id, end=10)]}


# A typo'd entry (matches nothing) and a second claim on Hot Desk.
FLAWED_MAPPING = """\
plans:
  - match: {name: "Hot desk"}
    group: basic
  - match: {code: HD}
    group: pro
"""
# Completes it: Mailbox to a group without access, Harbour a location.
COMPLETE_MAPPING = """\
plans:
  - match: {name: Mailbox}
    group: virtual-office
locations:
  - match: {name: Harbour}
    key: harbour
    vlan: 300
    nas_identifiers: [harbour]
"""


def main() -> int:
    ap = argparse.ArgumentParser(description="operator CLI tests")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--source-dir", default=".")
    args = ap.parse_args()
    tl.install_signal_handlers()
    work = tl.temp_workdir("radsync-operator-")
    checks = tl.Checks()
    c = checks.check
    ann = new_id()
    sim = tl.Simulator(work, fixture(ann), org=ORG,
                       script=Path(args.source_dir).resolve() / "scripts/officernd_sim.py",
                       extra_args=("--token-rate-limit", "0"))
    rs = tl.Radsync(Path(args.radsync).resolve(), work)
    try:
        def setup():
            sim.start()
            secret = sim.write_client_secret(work / "officernd-secret")
            rs.extra_mapping = FLAWED_MAPPING
            rs.write_config(sim.officernd_yaml(secret) + tl.metrics_yaml(tl.free_tcp_ports(1)[0]))
            rs.run("check-config")
            rs.run("migrate")

        if not c("simulator and a configuration with a flawed mapping", setup):
            return checks.summary()
        checks.sources = [sim]

        def global_options_anywhere():
            proc = tl.subprocess.run([str(rs.binary), "status", "-c", str(rs.main)],
                                     capture_output=True, text=True, timeout=60)
            expect_eq(proc.returncode, 0, proc.stderr)
            proc = tl.subprocess.run([str(rs.binary), "accounts", "list", "--config", str(rs.main)],
                                     capture_output=True, text=True, timeout=60)
            expect_eq(proc.returncode, 0, proc.stderr)
            proc = tl.subprocess.run([str(rs.binary), "-c", str(rs.main), "acounts", "list"],
                                     capture_output=True, text=True, timeout=60)
            expect_true(proc.returncode != 0, "an unknown command fails")
            expect_true("unknown command 'acounts'" in proc.stderr and "accounts" in proc.stderr,
                        proc.stderr)

        c("-c after the subcommand works; an unknown command is named, with the choices",
          global_options_anywhere)

        def mapping_check_online():
            proc = rs.run("mapping", "check", check=False)
            out = proc.stdout
            expect_eq(proc.returncode, 1, out + proc.stderr)
            expect_true(f"organization {ORG}" in out, out)
            expect_true('"Mailbox" id ' + PLAN_MAILBOX + " code MB" in out, out)
            expect_true('"Harbour" id ' + LOC_HARBOUR in out, out)
            expect_true('mapping-extra.yaml:2:5: plans: name "Hot desk"' in out, out)
            expect_true('"Hot Desk" id ' + PLAN_HOT in out and "basic (" in out and
                        "/mapping.yaml:15:5)" in out and "pro (" in out and
                        "/mapping-extra.yaml:4:5)" in out, out)
            proc = rs.run("mapping", "check", "--json", check=False)
            j = json.loads(proc.stdout)
            expect_eq(proc.returncode, 1, "exit status with --json")
            expect_eq(j["clean"], False, "clean")
            expect_eq([p["id"] for p in j["uncovered_plans"]], [PLAN_MAILBOX], "uncovered plans")
            expect_eq([p["name"] for p in j["uncovered_locations"]], ["Harbour"], "uncovered locations")
            expect_eq([(d["section"], d["match"], d["origin"]["line"]) for d in j["dead_entries"]],
                      [("plans", 'name "Hot desk"', 2)], "dead entries")
            expect_eq([(p["plan"]["id"], p["groups"]) for p in j["contested_plans"]],
                      [(PLAN_HOT, ["basic", "pro"])], "contested")
            expect_eq(j["officernd"]["plans"], 4, "plans counted")

        c("mapping check (OfficeRnD): uncovered plan and location, an entry matching nothing at "
          "file:line:col, a plan claimed twice; exit 1; --json says the same", mapping_check_online)

        def mapping_check_offline():
            rs.write_fixture(fixture(ann))
            rs.extra_mapping = COMPLETE_MAPPING
            rs.write_config(sim.officernd_yaml(work / "officernd-secret") +
                            tl.metrics_yaml(tl.free_tcp_ports(1)[0]))
            proc = rs.run("mapping", "check", "--from-file", str(rs.fixture), check=False)
            expect_eq(proc.returncode, 0, proc.stdout + proc.stderr)
            expect_true("every plan and location is mapped" in proc.stdout, proc.stdout)
            before = len(sim.requests())
            rs.run("mapping", "check", "--from-file", str(rs.fixture), "--json")
            expect_eq(len(sim.requests()), before, "offline: no request to OfficeRnD")

        c("mapping check --from-file (offline): a complete mapping exits 0 and asks nobody",
          mapping_check_offline)

        def api_get():
            proc = rs.run("api", "GET", "/plans?$limit=2")
            j = json.loads(proc.stdout)
            expect_true(proc.stdout.startswith("{\n  "), "pretty-printed: " + proc.stdout[:40])
            expect_true(len(j["results"]) == 2, proc.stdout)
            last = sim.requests()[-1]
            expect_eq((last["method"], last["path"]), ("GET", f"/api/v2/organizations/{ORG}/plans"),
                      "the request")
            for argv, says in ((["api", "DELETE", "/plans"], "read-only"),
                               (["api", "GET", "/../other-org/plans"], "inside the organisation"),
                               (["api", "GET", "plans"], "expected a path")):
                proc = rs.run(*argv, check=False)
                expect_true(proc.returncode == 1 and says in proc.stderr, f"{argv}: {proc.stderr}")

        c("api GET /plans?$limit=2: authorised, pretty-printed; other methods and paths outside "
          "the organisation refused", api_get)

        def json_outputs():
            proc = rs.run("reconcile", "--standalone", "--json")
            report = json.loads(proc.stdout)
            expect_eq(report["guard"], None, "guard")
            expect_true(report["accounts_changed"] >= 1 and report["rows"]["inserted"] > 0, proc.stdout)
            expect_true(all(r["value"] == "(secret)" for r in report["row_changes"]
                            if "Password" in r["attribute"]), "secrets hidden")
            status = json.loads(rs.run("status", "--json").stdout)
            expect_eq(status["accounts"], {"active": 1, "disabled": 0}, "accounts")
            expect_eq(status["daemon"]["running"], False, "no daemon")
            expect_eq(status["runs"][0]["mode"], "full", "last run")
            show = json.loads(rs.run("accounts", "show", f"ann@{DOMAIN}", "--json").stdout)
            expires = show["account"]["expires"]
            expect_eq(expires["timezone"], "Europe/Berlin", "the location's zone")
            expect_true(expires["utc"].endswith("Z") and "(Europe/Berlin)" in expires["local"],
                        json.dumps(expires))
            text = rs.run("accounts", "show", f"ann@{DOMAIN}").stdout
            line = next(l for l in text.splitlines() if l.startswith("expires:"))
            expect_true(expires["utc"] in line and "(Europe/Berlin)" in line, line)

        c("--json on reconcile, status and accounts show; expiry in the location's zone and UTC",
          json_outputs)
    finally:
        tl.stop_all_daemons()
        tl.remove_workdir(work)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
