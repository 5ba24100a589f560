#!/bin/sh
# What help2man reads to write vpipe's man page (CMakeLists.txt): `vpipe --help` followed by the
# help of each command, so that the page documents every option; --version is vpipe's own.
# Usage: scripts/man-help.sh VPIPE --help|--version
vpipe=$1
shift
if [ "$1" = "--version" ]; then
  exec "$vpipe" --version
fi
"$vpipe" --help
for command in run filters bench segments; do
  printf '\n"vpipe %s":\n' "$command"
  "$vpipe" "$command" --help
done
