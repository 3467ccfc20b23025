#!/bin/bash
# The fleet-deploy baseline: what an operator would write with xargs -P and OpenSSH.
#
#   shell-deploy.sh deploy   HOSTS_FILE BASE SHA     # ship SHA to every host, switch current, restart
#   shell-deploy.sh rollback HOSTS_FILE BASE SHA     # switch current back to releases/SHA, restart
#   shell-deploy.sh connect|disconnect HOSTS_FILE     # open / close OpenSSH master connections (CONTROL_DIR)
#
# deploy: `git archive` of SHA once into a temporary tar (uncompressed: the hosts share this machine's
# two cores, and loopback bandwidth is not the limit), then per host, PARALLEL at a time, ONE ssh session
# that unpacks the tar from stdin into releases/.SHA.tmp, renames it to releases/SHA, switches `current`
# atomically (a temporary link renamed over it), and runs the restart command in it (`true`).
# rollback: per host one ssh session that switches `current` to releases/SHA and restarts.
# Prints one line per host: "HOST START_US END_US EXIT_CODE" (bash's EPOCHREALTIME: no fork); exits non-zero if any host failed.
#
# Environment: REPO (git dir), SSH_KEY, KNOWN_HOSTS, SSH_PORT, SSH_USER, PARALLEL (default 32),
# RESTART (default true), CONTROL_DIR (when set: ssh multiplexes over the master connection `connect`
# opened there, ControlPersist as an operator's ~/.ssh/config would have it). HOSTS_FILE holds one address per line.
set -u
mode=$1 hosts=$2 base=${3:-/} sha=${4:-0}
: "${REPO:?}" "${SSH_KEY:?}" "${KNOWN_HOSTS:?}" "${SSH_PORT:?}" "${SSH_USER:?}"
PARALLEL=${PARALLEL:-32}
RESTART=${RESTART:-true}
case $sha in *[!0-9a-f]*|'') echo "bad sha $sha" >&2; exit 2;; esac
case $base in /*) ;; *) echo "bad base $base" >&2; exit 2;; esac

SSH_OPTS="-F /dev/null -i $SSH_KEY -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 -o LogLevel=ERROR -p $SSH_PORT"
if [ -n "${CONTROL_DIR:-}" ]; then SSH_OPTS="$SSH_OPTS -o ControlMaster=auto -o ControlPath=$CONTROL_DIR/%C -o ControlPersist=600"; fi

if [ "$mode" = deploy ]; then
  tar=$(mktemp /tmp/tugboat-bench-shell-XXXXXX.tar)
  trap 'rm -f "$tar"' EXIT
  git --git-dir="$REPO" archive --format=tar -o "$tar" "$sha" || exit 3
  remote="set -e; umask 022; mkdir -p $base/releases; cd $base; t=releases/.$sha.tmp; rm -rf \$t; mkdir \$t; tar -x -C \$t; mv -T \$t releases/$sha; ln -sfn releases/$sha .current.tmp; mv -T .current.tmp current; cd current; $RESTART"
  input=$tar
elif [ "$mode" = connect ]; then
  : "${CONTROL_DIR:?connect needs CONTROL_DIR}"
  remote="true"
  input=/dev/null
elif [ "$mode" = disconnect ]; then
  : "${CONTROL_DIR:?disconnect needs CONTROL_DIR}"
  # shellcheck disable=SC2086
  xargs -P "$PARALLEL" -I{} ssh $SSH_OPTS -O exit "$SSH_USER@{}" < "$hosts" 2>/dev/null
  exit 0
elif [ "$mode" = rollback ]; then
  remote="set -e; cd $base; test -d releases/$sha; ln -sfn releases/$sha .current.tmp; mv -T .current.tmp current; cd current; $RESTART"
  input=/dev/null
else
  echo "usage: $0 deploy|rollback HOSTS_FILE BASE SHA" >&2
  exit 2
fi

one() {
  local t0 t1 rc
  t0=${EPOCHREALTIME/./}
  # shellcheck disable=SC2086
  ssh $SSH_OPTS "$SSH_USER@$1" "$remote" < "$input"
  rc=$?
  t1=${EPOCHREALTIME/./}
  echo "$1 $t0 $t1 $rc"
  return $(( rc == 0 ? 0 : 1 ))
}
export -f one
export SSH_OPTS SSH_USER remote input

xargs -P "$PARALLEL" -n 1 bash -c 'one "$1"' _ < "$hosts"
