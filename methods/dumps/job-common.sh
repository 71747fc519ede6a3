# shellcheck shell=sh
# The start of every dump job (included by ./dump-common.sh): variables, helpers, the EXIT trap
# that notifies, and the start ping. The same text as commonPart() in domain/jobs/scripts.ts with
# its defaults (kind "backup"), which the other job scripts are still generated from.
#
# `run STEP CMD...` runs a command (or a function, which then runs under `set -e` too) with its
# stderr kept as the reason a failure notification gives; `summary` is what the success
# notification says; `partials` lists temporary files that every way out removes.
# Set before this part: JOB, what the failure message calls the job.

# >>> parameters: methods/tools/shellScript.ts replaces each NAME='' with NAME=<shell-quoted value>.
APP=''
ITEM=''
NTFY_URL=''
# <<< parameters

umask 027
work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-backup.XXXXXX")
step_log="$work/step.log"
: >"$step_log"
step='start'
summary=''
partials=''

say() { printf '%s %s\n' "$(date -u +%H:%M:%SZ)" "$*"; }

# run STEP COMMAND...: a failing COMMAND ends the job (set -e); its stderr is the failure's reason.
run() {
  step=$1
  shift
  say "$step"
  "$@" 2>"$step_log"
  cat "$step_log" >&2
}

# require_env NAME...: fails naming every empty or unset variable at once.
require_env() {
  missing=''
  for name in "$@"; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then missing="$missing $name"; fi
  done
  if [ -n "$missing" ]; then echo "missing environment variables:$missing" >&2; return 1; fi
}

# notify ok|failed MESSAGE: one ntfy message; a notification failure is logged, never fatal.
notify() {
  if [ -z "$NTFY_URL" ]; then return 0; fi
  message=$2
  if [ "$1" = ok ]; then
    set -- --header "Title: $APP/$ITEM backup succeeded" --header "Priority: default" --header "Tags: white_check_mark,backup,$APP"
  else
    set -- --header "Title: $APP/$ITEM backup FAILED" --header "Priority: high" --header "Tags: rotating_light,backup,$APP"
  fi
  if [ -n "${NTFY_TOKEN:-}" ]; then set -- "$@" --header "Authorization: Bearer $NTFY_TOKEN"; fi
  timeout 60 wget -q -O /dev/null "$@" --post-data "$message" "$NTFY_URL" || say "warning: the ntfy notification failed"
}

# hc_ping SUFFIX [BODY]: healthchecks ping (/start, '' for success, /fail), when HEALTHCHECKS_URL is set.
hc_ping() {
  if [ -z "${HEALTHCHECKS_URL:-}" ]; then return 0; fi
  timeout 30 wget -q -O /dev/null --post-data "${2:-}" "${HEALTHCHECKS_URL%/}$1" || say "warning: the healthchecks ping${1:+ ($1)} failed"
}

on_exit() {
  code=$?
  trap - EXIT
  set +e
  for f in $partials; do rm -f -- "$f"; done
  if [ "$code" -eq 0 ]; then
    say "done: $summary"
    notify ok "$APP/$ITEM: $summary"
    hc_ping "" "$summary"
  else
    cat "$step_log" >&2
    reason=$(tail -n 12 "$step_log" | cut -c 1-300)
    message="$APP/$ITEM: $JOB FAILED at step: $step (exit status $code)
${reason:-(no error output)}"
    # The pod's name: the kubelet sets HOSTNAME in every container, and busybox sh sets it too.
    # shellcheck disable=SC3028
    if [ -n "${HOSTNAME:-}" ]; then
      message="$message
pod: $HOSTNAME"
    fi
    say "FAILED at step: $step (exit status $code)" >&2
    notify failed "$message"
    hc_ping /fail "$message"
  fi
  rm -rf -- "$work"
  exit "$code"
}
# on_exit runs on every way out: a signal exits with 128+signal, so on_exit sees why.
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
hc_ping /start
