# Shared by tools/run, tools/test and tools/bench/*: install what is missing,
# build, and run a private PostgreSQL. Source it; do not execute it.

TALLY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TALLY_PG_BIN="${TALLY_PG_BIN:-/usr/lib/postgresql/15/bin}"
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) reuses
# what an earlier build on this machine compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$TALLY_ROOT}"
# Builds with debug info (sanitizers, fuzzing) hash the build directory unless told not
# to, so a clone elsewhere would compile them all again (~35 minutes for ASan here).
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
TALLY_PACKAGES=(g++ cmake ninja-build pkg-config ccache
  librdkafka-dev libpqxx-dev protobuf-compiler libprotobuf-dev libboost-dev
  libspdlog-dev libfmt-dev libssl-dev nlohmann-json3-dev libgtest-dev librapidcheck-dev libjemalloc-dev
  postgresql-15 postgresql-client-15 kcat curl time
  prometheus chromium chromium-driver python3-selenium)

tally_log() { printf '\033[1m[tally]\033[0m %s\n' "$*" >&2; }

# Installs the Debian packages that are missing (apt-get update once, only if needed).
tally_install_deps() {
  local missing=()
  for p in "${TALLY_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js and npm for the OpenAPI check (tests/openapi: Redocly's linter, a generated
  # TypeScript client; its pinned packages want Node 20.19 or later). A machine that already
  # has a Node.js (such as NodeSource's, which bundles npm) keeps it.
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  tally_log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# tally_build DIR [BUILD_TYPE [CMAKE_ARGS...]]: configures once, then builds with ninja (2 jobs
# by default): every target, or those named in TALLY_TARGETS.
tally_build() {
  local dir="$1" type="${2:-Release}"
  shift; [ $# -gt 0 ] && shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S "$TALLY_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  fi
  # shellcheck disable=SC2086
  ninja -C "$dir" -j "${TALLY_JOBS:-2}" ${TALLY_TARGETS:-}
}

# Runs a command as the owner of private clusters: PostgreSQL refuses to run as root.
tally_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# tally_pg_start DIR PORT: initdb (once) and start a cluster in DIR on 127.0.0.1:PORT.
tally_pg_start() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    # Every parent must be traversable by the postgres user.
    local p="$dir"; while [ "$p" != "/" ]; do p="$(dirname "$p")"; chmod o+x "$p" 2>/dev/null || true; done
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    tally_as_pg "$TALLY_PG_BIN/initdb" -D "$dir/data" -U tally --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  tally_as_pg "$TALLY_PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c shared_buffers=128MB -c fsync=${TALLY_PG_FSYNC:-on} ${TALLY_PG_EXTRA_OPTS:-}" \
    start >/dev/null || { tail -20 "$dir/postgres.log" >&2; return 1; }
}

tally_pg_stop() {
  local dir="$1"
  [ -f "$dir/data/postmaster.pid" ] && tally_as_pg "$TALLY_PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# A free TCP port on 127.0.0.1.
tally_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}
