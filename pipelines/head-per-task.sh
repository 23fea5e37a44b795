#!/bin/sh
# pipelines/head-per-task.sh: the first K records of each task, in input order.
#
#   head-per-task.sh K [FILE...] < records.ndjson
#
# A record's task is its "task" member (records without one count as one task).  The
# member is found by text: in compact JSON the sequence "task":" can only be a key,
# since every quote inside a string value is escaped.  Exit status: 0 ok, 2 usage.
set -eu
case "${1:-}" in
  '' | *[!0-9]*) echo "usage: head-per-task.sh K [FILE...]  (K: records per task)" >&2; exit 2 ;;
esac
k=$1; shift
exec awk -v k="$k" '
{ t = match($0, /"task"[ \t]*:[ \t]*"([^"\\]|\\.)*"/) ? substr($0, RSTART, RLENGTH) : "" }
++seen[t] <= k' "$@"
