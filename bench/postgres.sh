# shellcheck shell=bash
# Sourced by scripts/bench and scripts/link-order: a PostgreSQL database of
# their own, empty at the start of every run, so what other runs wrote
# (link-order's load posts activities; a developer's own posts) never
# changes what a home request reads, and figures compare run to run.

# fresh_database SERVER_URL NAME: drops NAME on the server at SERVER_URL
# (no database name in it) and prints the URL the three services share; the
# first service to start creates the database again, and each keeps its own
# migration history in it.
fresh_database() {
  psql "$1/postgres" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" >&2
  echo "$1/$2"
}
