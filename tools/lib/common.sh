# common.sh -- shared by tools/run, tools/test and bench/e2e: packages, wolfSSL, meson builds.
# Sourced, not executed. Everything is idempotent and quiet when already done.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

packages_build=(meson ninja-build pkg-config g++ make liburing-dev libxxhash-dev libmimalloc-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libtomlplusplus-dev libcli11-dev
  libc-ares-dev libidn2-dev nlohmann-json3-dev liblmdb-dev libargon2-dev dpkg-dev autoconf automake libtool openssl ca-certificates)
packages_test=(clang clang-format libfuzzer-14-dev libclang-rt-14-dev swaks python3-aiosmtpd python3-dkim
  python3-dnspython python3-pytest python3-fusepy dnsmasq-base iproute2 procps)
# The admin plane: its HTTP server (cpp-httplib, whose TLS is OpenSSL's), and the Prometheus
# text parser its tests read /metrics with, and the YAML reader of the OpenAPI check.
packages_build+=(libcpp-httplib-dev libssl-dev)
packages_test+=(python3-prometheus-client python3-yaml)
# MTA-STS policy fetches (src/sts/fetch.cc): libcurl's GnuTLS build, no second OpenSSL in relayd.
packages_build+=(libcurl4-gnutls-dev)
# The package's checks (tests/integration/test_package.py): lintian, systemd-analyze.
packages_test+=(lintian systemd)
# swaks --tls / --tlsc, in the inbound TLS tests.
packages_test+=(libnet-ssleay-perl libio-socket-ssl-perl)
# DANE tests: nsd serves a zone signed with ldns-signzone, unbound validates it.
packages_test+=(nsd unbound ldnsutils)
# The load balancer of the PROXY protocol tests (tests/integration/haproxy_support.py).
packages_test+=(haproxy)
# Cluster mode: hiredis for relayd, redis-server for the cluster tests.
packages_build+=(libhiredis-dev)
packages_test+=(redis-server)
# The dashboard (dashboard/meson.build): npm fetches uPlot at build time; chromium runs the page
# in tests/integration/test_dashboard.py. NodeSource's nodejs carries its own npm, which Debian's
# npm package would try to replace.
command -v npm >/dev/null 2>&1 || packages_build+=(npm)
packages_test+=(chromium)
# The integration files run two at a time (tests/integration/meson.build, conftest.py).
packages_test+=(python3-pytest-xdist)
# The real MTA that writes a DSN to relayd's bounce listener (tests/integration/
# test_bounce_postfix.py), run as a private instance; the package itself is left unconfigured.
packages_test+=(postfix)
# The store's write lock held from a test, as relayctl holds it, so the bounce processor waits
# (tests/integration/test_bounce_attacks.py).
packages_test+=(python3-lmdb)
# Redis over TLS (tests/integration/test_cluster_redis_tls.py): stunnel as the client tunnel.
packages_test+=(stunnel4)

# Installs the named Debian packages that are missing.
ensure_packages() {
  local missing=()
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: packages missing and not root: ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Postfix is only ever run as the tests' private instances: its package configures nothing.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints the pkg-config folder of the wolfSSL to build against (RELAY_WOLFSSL=system: Debian's).
wolfssl_pkgconfig() {
  if [ "${RELAY_WOLFSSL:-source}" = system ]; then
    ensure_packages libwolfssl-dev >&2
    echo ""
  else
    echo "$("$repo_root/tools/build-wolfssl")/lib/pkgconfig"
  fi
}

# meson_build DIR [meson options...]: configures DIR once (or when the options change), builds.
meson_build() {
  local dir=$1
  shift
  local pkgconfig
  pkgconfig=$(wolfssl_pkgconfig)
  # The package's layout: relayd's compiled-in paths (the dashboard's files) follow the prefix.
  local options=(-Dprefix=/usr "$@")
  [ -n "$pkgconfig" ] && options+=("-Dpkg_config_path=$pkgconfig")
  local stamp="$repo_root/$dir/.relay-options"
  local wanted="${options[*]}"
  if [ ! -f "$repo_root/$dir/build.ninja" ]; then
    (cd "$repo_root" && meson setup "$dir" "${options[@]}" > /dev/null) || return 1
  elif [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    (cd "$repo_root" && meson configure "$dir" "${options[@]}" >/dev/null)
  fi
  echo "$wanted" > "$stamp"
  if ! ninja -C "$repo_root/$dir" > "$repo_root/$dir/build.log" 2>&1; then
    grep -E 'error|FAILED' -A5 "$repo_root/$dir/build.log" | head -60 >&2
    echo "build in $dir failed (full output: $dir/build.log)" >&2
    return 1
  fi
}
