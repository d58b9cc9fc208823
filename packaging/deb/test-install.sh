#!/bin/bash
# Install test for the klikdok .deb packages in a fresh Debian root.
#
#   1. build version A (pyproject version, revision 1) and version B (revision 2);
#   2. debootstrap a minbase bookworm root (the debs are cached in var/cache);
#   3. dpkg -i A + apt-get -f install; start `klikdok serve` as the klikdok user
#      the way systemd would (NOTIFY_SOCKET, WATCHDOG_USEC) and GET /healthz, directly
#      and through the shipped nginx sample site terminating TLS (nginx -t, then https);
#   4. write an audit row and change the conffile; upgrade to B; check the
#      pre-upgrade backup, the row, the audit chain and the kept conffile; serve again;
#   5. systemd-analyze verify both unit files against the installed root;
#   6. apt-get remove keeps /var/lib/klikdok; apt-get purge removes it;
#   7. the agent package installs, runs and purges cleanly.
# Must run as root (chroot, mounts). Everything happens in a private mount
# namespace, and the server runs in a private network namespace, so nothing
# leaks onto the host and port 8080 cannot clash with anything else.
#
# Environment:
#   KLIKDOK_DEB_TEST_DIR     work directory            (default: <repo>/var/deb-test)
#   KLIKDOK_DEB_TEST_CACHE   cache directory           (default: <repo>/var/cache/deb-test)
#   KLIKDOK_DEB_TEST_MIRROR  Debian mirror             (default: the one apt uses on this machine)
#   KLIKDOK_DEB_TEST_SUITE   Debian suite              (default: bookworm)
#   KLIKDOK_DEB_TEST_KEEP    1 = keep the root after the run
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TEST_DIR="${KLIKDOK_DEB_TEST_DIR:-$REPO/var/deb-test}"
CACHE="${KLIKDOK_DEB_TEST_CACHE:-$REPO/var/cache/deb-test}"
SUITE="${KLIKDOK_DEB_TEST_SUITE:-bookworm}"
ROOT="$TEST_DIR/root"
CURRENT_STEP="start"
T0=$(date +%s)

log() { printf '[deb-test %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
fail() { printf '\ndeb-test: FAILED at step "%s": %s\n' "$CURRENT_STEP" "$*" >&2; exit 1; }
step() { CURRENT_STEP="$1"; log "== $1"; }
on_error() {
    local code=$?
    printf '\ndeb-test: FAILED at step "%s" (command exited %s, line %s)\n' "$CURRENT_STEP" "$code" "${BASH_LINENO[0]}" >&2
    exit "$code"
}

[ "$(id -u)" -eq 0 ] || fail "must run as root (chroot, mount, debootstrap)"

# Re-run inside a private mount namespace: every mount below disappears with
# this process, whatever way it ends.
if [ -z "${KLIKDOK_DEB_TEST_NS:-}" ]; then
    export KLIKDOK_DEB_TEST_NS=1
    exec unshare --mount --propagation private -- "$0" "$@"
fi
trap on_error ERR

in_root() {
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive HOME=/root "$@"
}
as_klikdok() { in_root setpriv --reuid=klikdok --regid=klikdok --init-groups "$@"; }
apt_in_root() {
    in_root apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        -o APT::Install-Recommends=false "$@"
}
root_py() { in_root /usr/bin/python3 -c "$@"; }

ensure_host_tools() {
    local missing=() pkg
    for pkg in debootstrap systemd util-linux iproute2; do
        dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing host tools: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# The mirror this machine's apt uses, so the test root sees the same archive.
detect_mirror() {
    if [ -n "${KLIKDOK_DEB_TEST_MIRROR:-}" ]; then echo "$KLIKDOK_DEB_TEST_MIRROR"; return; fi
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null \
        | awk -v s="$SUITE" '$2 == s && $3 == "main" {print $1; exit}'
}
detect_security_mirror() {
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null \
        | awk -v s="$SUITE-security" '$2 == s && $3 == "main" {print $1; exit}'
}

build_packages() {
    step "build version A and B"
    local out="$TEST_DIR/dist"
    rm -rf "$out"
    mkdir -p "$out/a" "$out/b"
    # One snapshot of the tree for both builds: others may edit it meanwhile.
    "$HERE/build.sh" --export-source "$TEST_DIR/src"
    export KLIKDOK_DEB_SOURCE_DIR="$TEST_DIR/src"
    KLIKDOK_DEB_OUTDIR="$out/a" KLIKDOK_DEB_REVISION=1 "$HERE/build.sh" >/dev/null
    # B only has to be newer; lintian already ran on A.
    KLIKDOK_DEB_OUTDIR="$out/b" KLIKDOK_DEB_REVISION=2 KLIKDOK_DEB_PACKAGES=klikdok KLIKDOK_DEB_LINT=0 \
        "$HERE/build.sh" >/dev/null
    DEB_A="$(ls "$out"/a/klikdok_*.deb)"
    DEB_B="$(ls "$out"/b/klikdok_*.deb)"
    DEB_AGENT="$(ls "$out"/a/klikdok-agent_*.deb)"
    VERSION_A="$(dpkg-deb -f "$DEB_A" Version)"
    VERSION_B="$(dpkg-deb -f "$DEB_B" Version)"
    dpkg --compare-versions "$VERSION_B" gt "$VERSION_A" || fail "$VERSION_B does not sort after $VERSION_A"
    log "A=$(basename "$DEB_A") B=$(basename "$DEB_B") agent=$(basename "$DEB_AGENT")"
}

make_root() {
    step "fresh $SUITE root"
    local mirror arch tarball security
    mirror="$(detect_mirror)"
    [ -n "$mirror" ] || fail "no $SUITE mirror in apt's configuration; set KLIKDOK_DEB_TEST_MIRROR"
    arch="$(dpkg --print-architecture)"
    tarball="$CACHE/debootstrap-$SUITE-minbase-$arch.tgz"
    mkdir -p "$CACHE/apt-archives/partial"
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    if [ ! -s "$tarball" ]; then
        log "downloading the $SUITE minbase set from $mirror (cached in $tarball)"
        debootstrap --variant=minbase --arch="$arch" --make-tarball="$tarball.tmp" "$SUITE" "$ROOT.dl" "$mirror" \
            >"$TEST_DIR/debootstrap.log" 2>&1 || { tail -n 20 "$TEST_DIR/debootstrap.log" >&2; fail "debootstrap --make-tarball"; }
        mv "$tarball.tmp" "$tarball"
        rm -rf "$ROOT.dl"
    fi
    debootstrap --variant=minbase --arch="$arch" --unpack-tarball="$tarball" "$SUITE" "$ROOT" "$mirror" \
        >"$TEST_DIR/debootstrap.log" 2>&1 || { tail -n 20 "$TEST_DIR/debootstrap.log" >&2; fail "debootstrap"; }

    {
        echo "deb $mirror $SUITE main"
        echo "deb $mirror $SUITE-updates main"
        security="$(detect_security_mirror)"
        [ -n "$security" ] && echo "deb $security $SUITE-security main"
    } >"$ROOT/etc/apt/sources.list"
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # No daemons are started inside the root.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 0755 "$ROOT/usr/sbin/policy-rc.d"

    mount -t proc proc "$ROOT/proc"
    mount --bind /dev "$ROOT/dev"
    mount --bind /dev/pts "$ROOT/dev/pts"
    mount -t tmpfs -o mode=0755 tmpfs "$ROOT/run"
    # Downloaded .debs survive between runs (kinder to the mirror, faster reruns).
    mount --bind "$CACHE/apt-archives" "$ROOT/var/cache/apt/archives"
    in_root apt-get -q update >"$TEST_DIR/apt-update.log" 2>&1 \
        || { tail -n 20 "$TEST_DIR/apt-update.log" >&2; fail "apt-get update in the root"; }
    # A real server has systemd installed (not running here): postinst then
    # enables the unit, and systemd-analyze finds the targets the unit needs.
    apt_in_root install systemd >"$TEST_DIR/apt-systemd.log" 2>&1 \
        || { tail -n 20 "$TEST_DIR/apt-systemd.log" >&2; fail "installing systemd in the root"; }
}

copy_debs() {
    mkdir -p "$ROOT/tmp/debs"
    cp "$DEB_A" "$DEB_B" "$DEB_AGENT" "$ROOT/tmp/debs/"
    cp "$HERE/tools/serve_probe.py" "$ROOT/tmp/serve_probe.py"
}

# Start the server in a private network namespace with its own loopback;
# with_nginx=1 also runs nginx with the shipped sample site in front of it.
serve_and_probe() {
    local label="$1" with_nginx="$2"; shift 2
    unshare --net -- env ROOT="$ROOT" WITH_NGINX="$with_nginx" sh -c '
        ip link set lo up || exit 1
        run() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
        if [ "$WITH_NGINX" = 1 ]; then run nginx || exit 1; fi
        run /usr/bin/python3 /tmp/serve_probe.py "$@"
        rc=$?
        if [ "$WITH_NGINX" = 1 ]; then run nginx -s quit 2>/dev/null; fi
        exit $rc' sh --log "/tmp/serve-$label.log" "$@" \
        || { echo "--- server output ($label) ---" >&2; tail -n 40 "$ROOT/tmp/serve-$label.log" >&2
             [ "$with_nginx" = 1 ] && tail -n 20 "$ROOT/var/log/nginx/klikdok.error.log" >&2
             fail "klikdok serve ($label)"; }
}

# The sample nginx site from the package's docs, with a throw-away certificate.
setup_nginx() {
    step "nginx sample site (TLS termination) from /usr/share/doc/klikdok/examples"
    apt_in_root install nginx >"$TEST_DIR/apt-nginx.log" 2>&1 || { tail -n 20 "$TEST_DIR/apt-nginx.log" >&2; fail "installing nginx"; }
    [ -f "$ROOT/usr/share/doc/klikdok/examples/nginx-klikdok.conf" ] || fail "the package does not ship the nginx sample"
    in_root rm -f /etc/nginx/sites-enabled/default
    in_root cp /usr/share/doc/klikdok/examples/nginx-klikdok.conf /etc/nginx/sites-enabled/klikdok
    in_root mkdir -p /etc/nginx/ssl
    in_root openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=klikdok.example.ru \
        -addext subjectAltName=DNS:klikdok.example.ru \
        -keyout /etc/nginx/ssl/klikdok.key -out /etc/nginx/ssl/klikdok.crt >/dev/null 2>&1 || fail "test certificate"
    echo "127.0.0.1 klikdok.example.ru" >>"$ROOT/etc/hosts"
    in_root nginx -t >"$TEST_DIR/nginx-t.log" 2>&1 || { cat "$TEST_DIR/nginx-t.log" >&2; fail "nginx -t rejects the sample site"; }
}

install_a() {
    step "install A with dpkg -i + apt-get -f install"
    copy_debs
    # Expected to fail: python3 and the libraries are not in a minbase root yet.
    in_root dpkg -i "/tmp/debs/$(basename "$DEB_A")" >"$TEST_DIR/dpkg-a.log" 2>&1 || true
    apt_in_root -f install >"$TEST_DIR/apt-f-install.log" 2>&1 \
        || { tail -n 30 "$TEST_DIR/apt-f-install.log" >&2; fail "apt-get -f install"; }
    [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev} ${Version}' klikdok)" = "ii  $VERSION_A" ] \
        || fail "klikdok $VERSION_A is not installed and configured"

    step "check the installed layout"
    in_root getent passwd klikdok >/dev/null || fail "no klikdok user"
    [ "$(in_root stat -c '%U:%G %a' /var/lib/klikdok)" = "klikdok:klikdok 750" ] || fail "/var/lib/klikdok owner/mode"
    [ "$(in_root stat -c '%U:%G %a' /etc/klikdok/klikdok.toml)" = "root:klikdok 640" ] || fail "conffile owner/mode"
    in_root dpkg-query -W -f='${Conffiles}\n' klikdok | grep -q '^ /etc/klikdok/klikdok.toml ' \
        || fail "/etc/klikdok/klikdok.toml is not a conffile"
    [ "$(readlink "$ROOT/usr/bin/klikdok")" = /opt/venvs/klikdok/bin/klikdok ] || fail "/usr/bin/klikdok link"
    [ "$(readlink "$ROOT/opt/venvs/klikdok/bin/python3")" = /usr/bin/python3 ] || fail "venv does not use Debian's python3"
    [ -f "$ROOT/lib/systemd/system/klikdok.service" ] || fail "no unit file"
    [ -L "$ROOT/etc/systemd/system/multi-user.target.wants/klikdok.service" ] || fail "postinst did not enable klikdok.service"
    in_root klikdok --version || fail "klikdok --version"
    # Bytecode compiled by postinst, so the read-only venv does not recompile at every start.
    [ -n "$(find "$ROOT/opt/venvs/klikdok/lib" -name '*.pyc' -print -quit)" ] || fail "postinst did not compile bytecode"
    # The database is migrated by postinst, as the service user.
    [ "$(in_root stat -c '%U' /var/lib/klikdok/klikdok.db)" = klikdok ] || fail "database missing or not owned by klikdok"
    as_klikdok klikdok migrate --list >"$TEST_DIR/migrations-a.txt"
    grep -q '^\[ \]' "$TEST_DIR/migrations-a.txt" && fail "pending migrations after install: $(cat "$TEST_DIR/migrations-a.txt")"
    # The shipped configuration, directories and the GOST backend (libengine-gost-openssl from
    # Depends) must pass; an unconfigured portal is only a WARN.
    as_klikdok klikdok doctor >"$TEST_DIR/doctor-a.txt" 2>&1 \
        || { cat "$TEST_DIR/doctor-a.txt" >&2; fail "klikdok doctor reports FAIL on a fresh install"; }

    setup_nginx

    step "serve A as the klikdok user, GET /healthz directly and through nginx"
    serve_and_probe a 1 --url http://127.0.0.1:8080/healthz --url https://klikdok.example.ru/healthz \
        --cafile /etc/nginx/ssl/klikdok.crt
}

MARKER="deb-test-$$-$(date +%s)"

prepare_upgrade() {
    step "write a row and change the conffile before the upgrade"
    # A real audit row, written with the installed code as the service user.
    as_klikdok /opt/venvs/klikdok/bin/python -c "
import sys, sqlite_utils
from server.db import audit
db = sqlite_utils.Database('/var/lib/klikdok/klikdok.db')
with db.conn:
    audit.append(db, actor='deb-test', action='upgrade.probe', details={'marker': sys.argv[1]})
" "$MARKER"
    AUDIT_ROWS_A="$(root_py "import sqlite3; print(sqlite3.connect('/var/lib/klikdok/klikdok.db').execute('SELECT count(*) FROM audit_log').fetchone()[0])")"
    # The local change must survive; serving on 8081 afterwards proves the
    # kept file is also the one read.
    sed -i 's/^listen = "127.0.0.1:8080"/listen = "127.0.0.1:8081"  # local change/' "$ROOT/etc/klikdok/klikdok.toml"
    grep -q '# local change' "$ROOT/etc/klikdok/klikdok.toml" || fail "could not edit the conffile"
    CONF_SUM="$(md5sum <"$ROOT/etc/klikdok/klikdok.toml")"
}

upgrade_to_b() {
    step "upgrade A -> B"
    # As an unattended upgrade would: keep the admin's conffile without asking.
    in_root dpkg --force-confdef --force-confold -i "/tmp/debs/$(basename "$DEB_B")" >"$TEST_DIR/dpkg-b.log" 2>&1 \
        || { tail -n 30 "$TEST_DIR/dpkg-b.log" >&2; fail "dpkg -i B"; }
    [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev} ${Version}' klikdok)" = "ii  $VERSION_B" ] \
        || fail "klikdok $VERSION_B is not installed and configured"

    step "check data and configuration after the upgrade"
    local backup="/var/lib/klikdok/backups/pre-$VERSION_B.db"
    [ -f "$ROOT$backup" ] || fail "postinst made no backup $backup"
    root_py "import sqlite3, sys
c = sqlite3.connect('file:$backup?mode=ro', uri=True)
assert c.execute('PRAGMA integrity_check').fetchone()[0] == 'ok', 'backup integrity'
n = c.execute('SELECT count(*) FROM audit_log WHERE details LIKE ?', ('%' + sys.argv[1] + '%',)).fetchone()[0]
assert n == 1, f'marker row in backup: {n}'" "$MARKER" || fail "backup does not hold the row written before the upgrade"
    root_py "import sqlite3, sys
c = sqlite3.connect('file:/var/lib/klikdok/klikdok.db?mode=ro', uri=True)
n = c.execute('SELECT count(*) FROM audit_log WHERE details LIKE ?', ('%' + sys.argv[1] + '%',)).fetchone()[0]
rows = c.execute('SELECT count(*) FROM audit_log').fetchone()[0]
assert n == 1 and rows >= int(sys.argv[2]), f'marker {n}, rows {rows}'" "$MARKER" "$AUDIT_ROWS_A" \
        || fail "the row written before the upgrade is gone"
    as_klikdok klikdok audit verify || fail "audit chain broken after the upgrade"
    [ "$(md5sum <"$ROOT/etc/klikdok/klikdok.toml")" = "$CONF_SUM" ] || fail "modified conffile was replaced"
    [ "$(in_root stat -c '%U:%G %a' /etc/klikdok/klikdok.toml)" = "root:klikdok 640" ] || fail "conffile mode after upgrade"
    as_klikdok klikdok migrate --list >"$TEST_DIR/migrations-b.txt"
    grep -q '^\[ \]' "$TEST_DIR/migrations-b.txt" && fail "pending migrations after upgrade"

    step "serve B on the locally configured port"
    serve_and_probe b 0 --url http://127.0.0.1:8081/healthz
}

verify_units() {
    step "systemd-analyze verify"
    # Inside the test root, where systemd is installed but not running:
    # ExecStart paths resolve to the installed files and the targets exist.
    local out
    out="$(in_root env SYSTEMD_LOG_LEVEL=notice systemd-analyze verify /lib/systemd/system/klikdok.service 2>&1)" \
        || { printf '%s\n' "$out" >&2; fail "systemd-analyze verify klikdok.service"; }
    [ -z "$out" ] || { printf '%s\n' "$out" >&2; fail "systemd-analyze has remarks on klikdok.service"; }
    mkdir -p "$ROOT/run/user/0"
    out="$(in_root env SYSTEMD_LOG_LEVEL=notice XDG_RUNTIME_DIR=/run/user/0 \
        systemd-analyze verify --user /usr/lib/systemd/user/klikdok-agent.service 2>&1)" \
        || { printf '%s\n' "$out" >&2; fail "systemd-analyze verify --user klikdok-agent.service"; }
    [ -z "$out" ] || { printf '%s\n' "$out" >&2; fail "systemd-analyze has remarks on klikdok-agent.service"; }
    # What the hardening amounts to, for the log (score 0 = tight, 10 = open).
    in_root systemd-analyze security --offline=true --no-pager /lib/systemd/system/klikdok.service \
        >"$TEST_DIR/security.txt" 2>&1 || true
    log "both units verified; $(grep -o 'Overall exposure level.*' "$TEST_DIR/security.txt" || echo 'no security score')"
}

remove_and_purge() {
    step "apt-get remove keeps state"
    apt_in_root remove klikdok >"$TEST_DIR/remove.log" 2>&1 || { tail -n 20 "$TEST_DIR/remove.log" >&2; fail "apt-get remove"; }
    [ -f "$ROOT/var/lib/klikdok/klikdok.db" ] || fail "remove deleted the database"
    [ -f "$ROOT/etc/klikdok/klikdok.toml" ] || fail "remove deleted the conffile"
    [ ! -e "$ROOT/opt/venvs/klikdok" ] || fail "remove left /opt/venvs/klikdok behind: $(find "$ROOT/opt/venvs/klikdok" | head -5)"
    [ ! -e "$ROOT/usr/bin/klikdok" ] || fail "remove left /usr/bin/klikdok"

    step "apt-get purge removes state"
    apt_in_root purge klikdok >"$TEST_DIR/purge.log" 2>&1 || { tail -n 20 "$TEST_DIR/purge.log" >&2; fail "apt-get purge"; }
    [ ! -e "$ROOT/var/lib/klikdok" ] || fail "purge left /var/lib/klikdok"
    [ ! -e "$ROOT/etc/klikdok" ] || fail "purge left /etc/klikdok: $(ls -A "$ROOT/etc/klikdok")"
    [ ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/klikdok.service" ] || fail "purge left the unit enabled"
    local overrides status
    overrides="$(in_root dpkg-statoverride --list 2>/dev/null || true)"
    case "$overrides" in *klikdok*) fail "purge left a statoverride: $overrides" ;; esac
    status="$(in_root dpkg-query -W -f='${db:Status-Abbrev}' klikdok 2>/dev/null || true)"
    case "$status" in ""|un*) ;; *) fail "klikdok still known to dpkg: $status" ;; esac
    log "state removed; the klikdok user is kept on purge (Debian practice)"
}

install_agent() {
    step "klikdok-agent: install"
    in_root dpkg -i "/tmp/debs/$(basename "$DEB_AGENT")" >"$TEST_DIR/dpkg-agent.log" 2>&1 || true
    apt_in_root -f install >"$TEST_DIR/apt-agent.log" 2>&1 || { tail -n 20 "$TEST_DIR/apt-agent.log" >&2; fail "agent install"; }
    [ "$(in_root dpkg-query -W -f='${db:Status-Abbrev}' klikdok-agent)" = "ii " ] || fail "klikdok-agent is not configured"
    [ -f "$ROOT/usr/lib/systemd/user/klikdok-agent.service" ] || fail "no agent user unit"
}

check_and_purge_agent() {
    step "klikdok-agent: run as a signer, purge"
    in_root useradd --create-home signer 2>/dev/null || true
    in_root setpriv --reuid=signer --regid=signer --init-groups env HOME=/home/signer klikdok-agent --help >/dev/null \
        || fail "klikdok-agent --help as an ordinary user"
    in_root setpriv --reuid=signer --regid=signer --init-groups env HOME=/home/signer \
        klikdok-agent run --help >/dev/null 2>&1 \
        || fail "klikdok-agent has no 'run' command, but the user unit runs 'klikdok-agent run'"
    # Unpaired and without a signing backend, status exits 1 by design, but it
    # must explain itself rather than crash.
    local rc=0
    in_root setpriv --reuid=signer --regid=signer --init-groups env HOME=/home/signer \
        klikdok-agent status >"$TEST_DIR/agent-status.txt" 2>&1 || rc=$?
    if [ "$rc" -gt 1 ] || grep -q Traceback "$TEST_DIR/agent-status.txt" \
            || ! grep -q 'klikdok/agent.toml' "$TEST_DIR/agent-status.txt"; then
        cat "$TEST_DIR/agent-status.txt" >&2
        fail "klikdok-agent status as an unpaired signer (exit $rc)"
    fi
    apt_in_root purge klikdok-agent >"$TEST_DIR/purge-agent.log" 2>&1 || fail "agent purge"
    [ ! -e "$ROOT/opt/venvs/klikdok-agent" ] || fail "purge left /opt/venvs/klikdok-agent"
}

main() {
    ensure_host_tools
    mkdir -p "$TEST_DIR" "$CACHE"
    build_packages
    make_root
    install_a
    prepare_upgrade
    upgrade_to_b
    install_agent
    verify_units
    remove_and_purge
    check_and_purge_agent
    if [ "${KLIKDOK_DEB_TEST_KEEP:-0}" != 1 ]; then
        umount -R "$ROOT/var/cache/apt/archives" "$ROOT/run" "$ROOT/dev/pts" "$ROOT/dev" "$ROOT/proc" 2>/dev/null || true
        rm -rf "$ROOT"
    fi
    log "PASSED in $(($(date +%s) - T0)) s"
}

main "$@"
