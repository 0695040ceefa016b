#!/usr/bin/env python3
"""The Debian package: builds it with CPack from this build tree, checks what it holds and
declares (dpkg-deb -c / -I), runs lintian, then installs it, checks the installed result and
purges it, twice (keeping the data, then deleting it when preseeded to).

    python3 tests/package/test_package.py --build-dir build/dev --source-dir .

The install checks need root and a machine without radsync: they would otherwise touch a real
installation's data, so they are refused (failing, not skipped) unless the machine is free.
Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import expect_eq, expect_true  # noqa: E402

DATA_DIRS = [Path("/var/lib/radsync"), Path("/etc/radsync/secrets")]
CONFFILES = ["/etc/radsync/radsync.yaml", "/etc/radsync/mapping.yaml"]
EXPECTED_FILES = [
    "./usr/bin/radsync",
    "./usr/lib/systemd/system/radsync.service",
    "./usr/lib/sysusers.d/radsync.conf",
    "./usr/lib/tmpfiles.d/radsync.conf",
    "./usr/share/doc/radsync/examples/radsync.example.yaml",
    "./usr/share/doc/radsync/examples/mapping.example.yaml",
    "./usr/share/doc/radsync/copyright",
    "./usr/share/doc/radsync/changelog.gz",
    "./usr/share/radsync/freeradius/configure-freeradius",
    "./usr/share/radsync/prometheus/alerts.yml",
    "./usr/share/man/man1/radsync.1.gz",
    *("." + f for f in CONFFILES),
]
NONINTERACTIVE = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def run(*argv: str, env=None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def installed() -> bool:
    """dpkg knows radsync in any state but gone (installed, half-configured, config-files)."""
    proc = run("dpkg-query", "-W", "-f=${db:Status-Status}", "radsync", check=False)
    return proc.returncode == 0 and proc.stdout.strip() not in ("", "not-installed")


def mode_owner(path: Path) -> str:
    return run("stat", "-c", "%a %U:%G", str(path)).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description="Debian package tests")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", default=".")
    args = ap.parse_args()
    build = Path(args.build_dir).resolve()
    work = tl.temp_workdir("radsync-package-")
    checks = tl.Checks()
    c = checks.check
    deb: list[Path] = []
    touched_system = False
    try:
        def build_package():
            run("cpack", "-G", "DEB", "--config", str(build / "CPackConfig.cmake"), "-B", str(work))
            found = sorted(work.glob("radsync_*_amd64.deb"))
            expect_eq(len(found), 1, "one package")
            deb.append(found[0])

        if not c("cpack -G DEB builds radsync_VERSION_amd64.deb", build_package):
            return checks.summary()

        def contents():
            listing = run("dpkg-deb", "-c", str(deb[0])).stdout
            paths = {line.split()[-1] for line in listing.splitlines()}
            # dpkg-deb prints "./usr/bin/radsync" for files and "./usr/bin/" for directories.
            missing = [f for f in EXPECTED_FILES if f not in paths]
            expect_eq(missing, [], "files missing from the package")
            expect_true(not any(p.startswith("./usr/local") for p in paths), "nothing in /usr/local")
            # The secrets directory and the database directory come from tmpfiles at install,
            # with their own modes; the package must not ship them (they would be root's).
            expect_true("./var/" not in paths and "./etc/radsync/secrets/" not in paths, listing)
            line = next(l for l in listing.splitlines() if l.endswith("./usr/bin/radsync"))
            expect_true(line.startswith("-rwxr-xr-x root/root"), line)

        c("dpkg-deb -c: binary, unit, sysusers, tmpfiles, examples, deploy files, man page, "
          "conffiles; nothing in /usr/local or /var", contents)

        def control():
            info = run("dpkg-deb", "-I", str(deb[0])).stdout
            depends = re.search(r"^ Depends: (.*)$", info, re.M).group(1)
            # shlibdeps: the libraries the binary links, with versions, none named by hand.
            for lib in ("libc6 (>=", "libssl3", "libsqlite3-0", "libsystemd0", "libcurl4"):
                expect_true(lib in depends, f"{lib} in Depends: {depends}")
            expect_true("freeradius-common" in depends, depends)
            for script in ("postinst", "prerm", "postrm", "conffiles", "templates", "config"):
                expect_true(re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+{script}\b", info, re.M),
                            f"{script} in the control archive:\n{info}")
            extracted = work / "control"
            run("dpkg-deb", "-e", str(deb[0]), str(extracted))
            expect_eq((extracted / "conffiles").read_text().split(), CONFFILES, "conffiles")

        c("dpkg-deb -I: Depends from shlibdeps, maintainer scripts, /etc/radsync/* as conffiles",
          control)

        def lintian():
            if shutil.which("lintian") is None:
                raise AssertionError("lintian is not installed (scripts/setup installs it)")
            proc = run("lintian", "--fail-on", "error,warning", "--display-info", str(deb[0]),
                       check=False)
            tags = [l for l in proc.stdout.splitlines() if re.match(r"^[EWI]: ", l)]
            errors_or_warnings = [l for l in tags if not l.startswith("I: ")]
            expect_eq(errors_or_warnings, [], "lintian errors and warnings")
            expect_eq(proc.returncode, 0, "lintian exit status:\n" + proc.stdout + proc.stderr)
            print("    lintian info tags (justified in deploy/debian/README.md):")
            for l in tags:
                print("     ", l)

        c("lintian: no errors, no warnings", lintian)

        def machine_is_free():
            expect_eq(os.geteuid(), 0, "installing needs root")
            expect_true(not installed(), "radsync is already installed here")
            for d in [*DATA_DIRS, Path("/usr/bin/radsync"), Path("/etc/radsync")]:
                expect_true(not d.exists(), f"{d} exists: refusing to touch a real installation")

        if not c("the machine has no radsync of its own (root, nothing installed)",
                 machine_is_free):
            return checks.summary()
        touched_system = True

        def install():
            proc = run("dpkg", "-i", str(deb[0]), env=NONINTERACTIVE)
            # Not started: the shipped configuration is the commented example.
            expect_true("not enabled or started" in proc.stderr, proc.stderr)
            expect_true(not Path("/etc/systemd/system/multi-user.target.wants/radsync.service")
                        .exists(), "not enabled while unconfigured")
            expect_eq(run("radsync", "--version").stdout.strip(), f"radsync {version()}", "version")
            passwd = run("getent", "passwd", "radsync").stdout.strip().split(":")
            expect_eq(passwd[5], "/var/lib/radsync", "home")
            expect_eq(passwd[6], "/usr/sbin/nologin", "shell")
            members = run("getent", "group", "radsync").stdout.strip().split(":")[3].split(",")
            expect_true("freerad" in members, f"freerad in group radsync: {members}")
            expect_eq(mode_owner(Path("/var/lib/radsync")), "2770 radsync:radsync", "data dir")
            expect_eq(mode_owner(Path("/etc/radsync/secrets")), "700 radsync:radsync", "secrets")
            expect_eq(mode_owner(Path("/etc/radsync/radsync.yaml")), "644 root:root", "config")
            registered = run("dpkg-query", "-W", "-f=${Conffiles}", "radsync").stdout
            for f in CONFFILES:
                expect_true(f in registered, f"{f} registered as a conffile: {registered}")
            verify = run("systemd-analyze", "verify", "/usr/lib/systemd/system/radsync.service",
                         check=False)
            own = [l for l in (verify.stdout + verify.stderr).splitlines() if "radsync" in l]
            expect_eq((verify.returncode, own), (0, []), "systemd-analyze verify")
            # root's first command creates the databases and the key for the service's user.
            run("radsync", "migrate", env=NONINTERACTIVE)
            for name in ("radsync.db", "state.db", "state.db.key"):
                owner = mode_owner(Path("/var/lib/radsync") / name).split()[1]
                expect_eq(owner, "radsync:radsync", f"{name} made by root's radsync migrate")
            man = run("man", "-P", "cat", "radsync", check=False)
            expect_true("EXIT STATUS" in man.stdout, "man radsync: " + man.stdout[:200])

        c("dpkg -i: radsync --version, user radsync with freerad in its group, directories with "
          "their modes, conffiles registered, systemd-analyze verify of the installed unit, "
          "man radsync; neither enabled nor started while unconfigured; databases root creates "
          "belong to radsync", install)

        def edited_conffile_survives_reinstall():
            config = Path("/etc/radsync/radsync.yaml")
            config.write_text(config.read_text() + "# edited by the operator\n")
            run("dpkg", "-i", "--force-confold", str(deb[0]), env=NONINTERACTIVE)
            expect_true(config.read_text().endswith("# edited by the operator\n"), "edit kept")

        c("reinstalling keeps an edited /etc/radsync/radsync.yaml", edited_conffile_survives_reinstall)

        def purge_keeps_data():
            db = Path("/var/lib/radsync") / "radsync.db"
            db.write_text("the operator's accounts")
            shutil.chown(db, "radsync", "radsync")
            proc = run("dpkg", "--purge", "radsync", env=NONINTERACTIVE)
            expect_true(not installed(), "purged")
            expect_true(not Path("/usr/bin/radsync").exists(), "binary removed")
            for f in CONFFILES:
                expect_true(not Path(f).exists(), f"{f} removed by purge")
            for d in DATA_DIRS:
                expect_true(d.is_dir(), f"{d} kept")
            expect_true("kept /var/lib/radsync" in proc.stderr, proc.stderr)

        c("dpkg --purge without being asked to: binary and conffiles gone, the databases and "
          "secrets kept", purge_keeps_data)

        def purge_deletes_when_asked():
            run("dpkg", "-i", str(deb[0]), env=NONINTERACTIVE)
            expect_eq((Path("/var/lib/radsync") / "radsync.db").read_text(),
                      "the operator's accounts", "a reinstall carries on with the kept data")
            subprocess.run(["debconf-set-selections"], input="radsync radsync/purge_data boolean true\n",
                           text=True, check=True)
            run("dpkg", "--purge", "radsync", env=NONINTERACTIVE)
            for d in DATA_DIRS:
                expect_true(not d.exists(), f"{d} deleted")
            expect_true(not Path("/etc/radsync").exists(), "/etc/radsync gone")
            debconf = run("debconf-show", "radsync", check=False).stdout
            expect_eq(debconf.strip(), "", "debconf forgot the answer")

        c("dpkg --purge with radsync/purge_data preseeded true deletes /var/lib/radsync and "
          "/etc/radsync/secrets", purge_deletes_when_asked)
    finally:
        if touched_system:
            cleanup()
        tl.remove_workdir(work)
    return checks.summary()


def version() -> str:
    return re.match(r"radsync \(([^)]+)\)",
                    (Path(__file__).resolve().parents[2] / "deploy/debian/changelog")
                    .read_text()).group(1)


def cleanup() -> None:
    """Leaves the machine as the test found it: no package, no user data, no debconf answer."""
    subprocess.run(["dpkg", "--purge", "radsync"], env=NONINTERACTIVE, capture_output=True)
    for d in [*DATA_DIRS, Path("/etc/radsync")]:
        shutil.rmtree(d, ignore_errors=True)
    subprocess.run(["sh", "-c", "echo PURGE | debconf-communicate radsync"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
