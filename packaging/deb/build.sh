#!/bin/bash
# Build klikdok_<version>_<arch>.deb and klikdok-agent_<version>_<arch>.deb.
#
# Each package carries its own virtualenv, made with Debian's /usr/bin/python3
# inside a staging root and then relocated to /opt/venvs/<package> (see
# README.md, "Why not dh-virtualenv"). Run as root on a clean Debian bookworm
# machine and the build dependencies are installed with apt-get.
#
# Environment:
#   KLIKDOK_DEB_OUTDIR    where the .deb files go            (default: <repo>/dist)
#   KLIKDOK_DEB_VERSION   full Debian version, e.g. 0.1.0-2  (default: pyproject version + "-1")
#   KLIKDOK_DEB_REVISION  Debian revision only               (default: 1)
#   KLIKDOK_DEB_PACKAGES  which packages to build            (default: "klikdok klikdok-agent")
#   KLIKDOK_DEB_LINT      1 = run lintian, fail on errors    (default: 1)
#   KLIKDOK_DEB_KEEP_WORK 1 = keep the work directory        (default: 0)
#   KLIKDOK_DEB_SOURCE_DIR build from this snapshot (made by `build.sh --export-source DIR`)
#   KLIKDOK_DEB_PIP_CACHE pip cache for wheels built here    (default: ~/.cache/klikdok-deb-pip)
#   DEBFULLNAME/DEBEMAIL  the Maintainer field
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
OUTDIR="${KLIKDOK_DEB_OUTDIR:-$REPO/dist}"
PACKAGES="${KLIKDOK_DEB_PACKAGES:-klikdok klikdok-agent}"
LINT="${KLIKDOK_DEB_LINT:-1}"
MAINTAINER="${DEBFULLNAME:-KlikDok maintainers} <${DEBEMAIL:-packaging@klikdok.ru}>"
# libsystemd-dev/pkg-config: systemd-python (sd_notify); libyaml-dev: PyYAML is
# built against Debian's libyaml instead of the copy inside the PyPI wheel.
BUILD_DEPS="dpkg-dev binutils python3 python3-venv python3-dev gcc libsystemd-dev pkg-config libyaml-dev"
[ "$LINT" = 1 ] && BUILD_DEPS="$BUILD_DEPS lintian"

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { printf 'build.sh: ERROR: %s\n' "$*" >&2; exit 1; }

ensure_build_deps() {
    local missing=() pkg
    for pkg in $BUILD_DEPS; do
        dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing build dependencies: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
    fi
    log "installing build dependencies: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# PEP 440 -> Debian: pre-releases must sort before the release ("~"), local and
# post releases after it ("+").
debian_upstream_version() {
    "$PY" - "$1" <<'PYEOF'
import re, sys, tomllib
version = tomllib.load(open(sys.argv[1], "rb"))["project"]["version"]
v = re.sub(r"[.-]?(dev|a|b|rc)(\d*)", r"~\1\2", version)
v = re.sub(r"[.-]?post(\d*)", r"+post\1", v)
print(v)
PYEOF
}

# Copy the source as git sees it (tracked + untracked, minus ignored), so the
# developers' .venv, var/ and caches never end up in the wheel.
export_source() {
    local dest="$1"
    mkdir -p "$dest"
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
            | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
            | tar --null -T - -cf -) | tar -xf - -C "$dest"
    else
        tar -C "$REPO" --exclude=.venv --exclude=.git --exclude=var --exclude=dist --exclude=build -cf - . \
            | tar -xf - -C "$dest"
    fi
}

# Create the venv for one package at <stage>/opt/venvs/<name>, install the
# wheel into it, strip the installer and relocate it to /opt/venvs/<name>.
build_venv() {
    local name="$1" extras="$2" stage="$3"
    local final="/opt/venvs/$name" venv="$stage/opt/venvs/$name"
    local spec="$WHEEL"
    [ -n "$extras" ] && spec="klikdok[$extras] @ file://$WHEEL"
    mkdir -p "$(dirname "$venv")"
    "$PY" -m venv "$venv"
    # Own wheel cache: pip's default cache is keyed by the cp311 tag only, so it
    # would hand us extensions compiled by another cp311 (a developer's pyenv).
    export PIP_CACHE_DIR="${KLIKDOK_DEB_PIP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/klikdok-deb-pip}"
    # PyYAML's wheel embeds a private libyaml (lintian: embedded-library), so
    # it is compiled here and links Debian's libyaml-0-2, which gets security updates.
    local pip_args=(--disable-pip-version-check --no-input --no-compile --no-warn-script-location
        --no-binary PyYAML)
    [ -f "$HERE/constraints.txt" ] && pip_args+=(--constraint "$HERE/constraints.txt")
    log "$name: installing klikdok${extras:+[$extras]} and dependencies"
    "$venv/bin/python" -m pip install "${pip_args[@]}" "$spec" >"$WORK/pip-$name.log" 2>&1 \
        || { tail -n 40 "$WORK/pip-$name.log" >&2; die "$name: pip install failed (log above)"; }
    "$venv/bin/python" -m pip freeze --all --exclude pip --exclude setuptools \
        | sed "s|^klikdok @ file://.*|klikdok==$PY_VERSION|" >"$WORK/freeze-$name.txt"
    # The installer is not needed at run time and would go stale; the exact
    # versions stay visible in /usr/share/doc/<name>/requirements.txt.
    "$venv/bin/python" -m pip uninstall -y -q pip setuptools >/dev/null
    find "$venv" -depth -type d -name __pycache__ -exec rm -rf {} +
    strip_and_fix_modes "$venv"
    "$PY" "$HERE/tools/relocate_venv.py" "$venv" --stage-prefix "$venv" --final-prefix "$final" \
        --forbid "$WORK" --forbid "$REPO" >&2 || die "$name: venv relocation failed"
}

# What dh_strip and dh_fixperms would do: debug symbols out of the compiled
# extensions, and no executable bit on library files that are not programs.
strip_and_fix_modes() {
    local venv="$1" f
    local rpath
    while IFS= read -r -d '' f; do
        strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
        # An extension built by another interpreter (e.g. a pyenv build) carries
        # its RUNPATH and would load that interpreter's libraries, or none.
        rpath="$(readelf -d "$f" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p' | tr ':' '\n' | grep -v '^\$ORIGIN' || true)"
        [ -z "$rpath" ] || die "$f has a foreign library search path: $rpath"
    done < <(find "$venv" -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
    while IFS= read -r -d '' f; do
        case "$(head -c 2 "$f")" in '#!') ;; *) chmod a-x "$f" ;; esac
    done < <(find "$venv/lib" -type f -perm /111 ! -name '*.so' ! -name '*.so.*' -print0)
}

# Runtime library dependencies of the compiled extensions, the way
# dh_shlibdeps computes ${shlibs:Depends}.
shlibs_depends() {
    local name="$1" stage="$2"
    local shdir="$WORK/shlibs-$name" libdirs=() elfs=()
    mkdir -p "$shdir/debian"
    printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$name" "$name" >"$shdir/debian/control"
    mapfile -t elfs < <(find "$stage/opt" -type f \( -name '*.so' -o -name '*.so.*' \) -print)
    [ ${#elfs[@]} -eq 0 ] && { echo "libc6"; return; }
    # Wheels may bundle private libraries next to the extension (<dist>.libs).
    mapfile -t libdirs < <(find "$stage/opt" -type d -name '*.libs' -printf '-l%p\n')
    (cd "$shdir" && dpkg-shlibdeps -O --ignore-missing-info "${libdirs[@]}" -e"${elfs[@]}" 2>"$WORK/shlibdeps-$name.log") \
        | sed -n 's/^shlibs:Depends=//p'
}

python_depends() {
    # The venv's site-packages and compiled extensions belong to one Python
    # minor version, so the package must not outlive it.
    "$PY" -c 'import sys; v=sys.version_info; print(f"python3 (>= {v.major}.{v.minor}), python3 (<< {v.major}.{v.minor + 1})")'
}

fill_template() {
    local src="$1" dest="$2"
    sed -e "s|@DEB_VERSION@|$DEB_VERSION|g" -e "s|@ARCH@|$ARCH|g" -e "s|@MAINTAINER@|$MAINTAINER|g" \
        -e "s|@INSTALLED_SIZE@|${INSTALLED_SIZE:-0}|g" -e "s|@PYTHON_DEPENDS@|${PYTHON_DEPENDS:-}|g" \
        -e "s|@SHLIBS_DEPENDS@|${SHLIBS_DEPENDS:-}|g" "$src" >"$dest"
}

install_docs() {
    local name="$1" stage="$2"
    local doc="$stage/usr/share/doc/$name"
    install -d "$doc"
    install -m 0644 "$HERE/copyright" "$doc/copyright"
    install -m 0644 "$HERE/README.md" "$doc/README.md"
    install -m 0644 "$WORK/freeze-$name.txt" "$doc/requirements.txt"
    {
        printf '%s (%s) unstable; urgency=medium\n\n' "$name" "$DEB_VERSION"
        printf '  * Built from the KlikDok repository%s.\n\n' "${GIT_REV:+, commit $GIT_REV}"
        printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R -u -d "@$SOURCE_DATE_EPOCH")"
    } | gzip -9n >"$doc/changelog.Debian.gz"
    if [ -f "$HERE/$name/lintian-overrides" ]; then
        install -D -m 0644 "$HERE/$name/lintian-overrides" "$stage/usr/share/lintian/overrides/$name"
    fi
}

stage_klikdok() {
    local stage="$1"
    build_venv klikdok systemd "$stage"
    install -d "$stage/usr/bin" "$stage/etc/klikdok" "$stage/lib/systemd/system"
    # /usr/bin and /opt are different top-level directories: absolute link (Policy 10.5).
    ln -s /opt/venvs/klikdok/bin/klikdok "$stage/usr/bin/klikdok"
    local conf="$SRC/config/klikdok.toml"
    if [ -f "$conf" ]; then
        "$PY" "$HERE/tools/make_conffile.py" "$conf" "$stage/etc/klikdok/klikdok.toml" \
            || die "cannot derive /etc/klikdok/klikdok.toml from config/klikdok.toml"
    else
        log "WARNING: config/klikdok.toml missing, shipping a minimal configuration"
        printf '[server]\nlisten = "127.0.0.1:8080"\n\n[storage]\ndata_dir = "/var/lib/klikdok"\n' \
            >"$stage/etc/klikdok/klikdok.toml"
    fi
    chmod 0644 "$stage/etc/klikdok/klikdok.toml"
    install -m 0644 "$HERE/klikdok/klikdok.service" "$stage/lib/systemd/system/klikdok.service"
    install_docs klikdok "$stage"
    if [ -f "$SRC/config/nginx-klikdok.conf" ]; then
        install -D -m 0644 "$SRC/config/nginx-klikdok.conf" "$stage/usr/share/doc/klikdok/examples/nginx-klikdok.conf"
    fi
}

stage_klikdok_agent() {
    local stage="$1"
    build_venv klikdok-agent "" "$stage"
    install -d "$stage/usr/bin" "$stage/usr/lib/systemd/user"
    ln -s /opt/venvs/klikdok-agent/bin/klikdok-agent "$stage/usr/bin/klikdok-agent"
    install -m 0644 "$HERE/klikdok-agent/klikdok-agent.service" "$stage/usr/lib/systemd/user/klikdok-agent.service"
    install_docs klikdok-agent "$stage"
}

assemble_deb() {
    local name="$1" stage="$2"
    local ctl="$stage/DEBIAN" script
    install -d -m 0755 "$ctl"
    # Normalise modes: the build user's umask must not leak into the package.
    find "$stage" -path "$ctl" -prune -o -type d -exec chmod 0755 {} +
    find "$stage" -path "$ctl" -prune -o -type f -perm /111 -exec chmod 0755 {} +
    find "$stage" -path "$ctl" -prune -o -type f ! -perm /111 -exec chmod 0644 {} +
    [ -f "$stage/etc/klikdok/klikdok.toml" ] && chmod 0644 "$stage/etc/klikdok/klikdok.toml"

    for script in preinst postinst prerm postrm; do
        [ -f "$HERE/$name/$script" ] || continue
        fill_template "$HERE/$name/$script" "$ctl/$script"
        chmod 0755 "$ctl/$script"
    done
    if [ -d "$stage/etc" ]; then
        (cd "$stage" && find etc -type f -printf '/%p\n' | sort) >"$ctl/conffiles"
        chmod 0644 "$ctl/conffiles"
    fi
    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 -r md5sum) >"$ctl/md5sums"
    chmod 0644 "$ctl/md5sums"

    INSTALLED_SIZE="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
    PYTHON_DEPENDS="$(python_depends)"
    SHLIBS_DEPENDS="$(shlibs_depends "$name" "$stage")"
    [ -n "$SHLIBS_DEPENDS" ] || die "$name: dpkg-shlibdeps found nothing (see $WORK/shlibdeps-$name.log)"
    fill_template "$HERE/$name/control.in" "$ctl/control"
    chmod 0644 "$ctl/control"

    local deb="$OUTDIR/${name}_${DEB_VERSION#*:}_${ARCH}.deb"
    find "$stage" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
    log "built $deb ($(du -h "$deb" | cut -f1))"
    BUILT+=("$deb")
}

run_lintian() {
    local deb out
    for deb in "${BUILT[@]}"; do
        out="$(lintian --tag-display-limit 0 "$deb" 2>&1 || true)"
        if [ -n "$out" ]; then sed 's/^/lintian: /' <<<"$out" >&2; fi
        # A here-string, not a pipe: with pipefail, grep -q closing the pipe
        # early would turn a match into a failure.
        if grep -q '^E: ' <<<"$out"; then
            die "lintian reported errors for $(basename "$deb")"
        fi
    done
}

main() {
    if [ "${1:-}" = "--export-source" ]; then
        # Snapshot the tree once so that several builds (test-install.sh) see the same source.
        [ -n "${2:-}" ] || die "usage: build.sh --export-source DIR"
        rm -rf "$2"
        export_source "$2"
        return 0
    fi
    ensure_build_deps
    ARCH="$(dpkg --print-architecture)"
    mkdir -p "$OUTDIR" "$REPO/build"
    OUTDIR="$(cd "$OUTDIR" && pwd)"
    WORK="$(mktemp -d "$REPO/build/deb.XXXXXX")"
    if [ "${KLIKDOK_DEB_KEEP_WORK:-0}" = 1 ]; then
        log "work directory kept: $WORK"
    else
        trap 'rm -rf "$WORK"' EXIT
    fi

    SRC="${KLIKDOK_DEB_SOURCE_DIR:-$WORK/src}"
    [ -n "${KLIKDOK_DEB_SOURCE_DIR:-}" ] || export_source "$SRC"
    [ -f "$SRC/pyproject.toml" ] || die "no pyproject.toml in $SRC"
    PY_VERSION="$("$PY" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$SRC/pyproject.toml")"
    DEB_VERSION="${KLIKDOK_DEB_VERSION:-$(debian_upstream_version "$SRC/pyproject.toml")-${KLIKDOK_DEB_REVISION:-1}}"
    GIT_REV="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || true)"
    SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}"
    export SOURCE_DATE_EPOCH
    log "building $PACKAGES $DEB_VERSION ($ARCH)"

    log "building the klikdok wheel"
    "$PY" -m venv "$WORK/tools"
    "$WORK/tools/bin/python" -m pip wheel --disable-pip-version-check --no-input --no-deps \
        -w "$WORK/wheels" "$SRC" >"$WORK/pip-wheel.log" 2>&1 \
        || { tail -n 40 "$WORK/pip-wheel.log" >&2; die "building the wheel failed"; }
    WHEEL="$(ls "$WORK"/wheels/klikdok-*.whl)"

    BUILT=()
    local name
    for name in $PACKAGES; do
        rm -rf "$WORK/stage-$name"
        case "$name" in
            klikdok) stage_klikdok "$WORK/stage-$name" ;;
            klikdok-agent) stage_klikdok_agent "$WORK/stage-$name" ;;
            *) die "unknown package $name" ;;
        esac
        assemble_deb "$name" "$WORK/stage-$name"
    done
    [ "$LINT" = 1 ] && run_lintian
    printf '%s\n' "${BUILT[@]}"
}

main "$@"
