#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes docs/hardening-results.md from the "# hardening: what | times |
# what held" lines of a guest test run (its TAP results file, $1), with the
# TAP status of the case that printed each line. Called by scripts/test.sh
# after a full run, so the table is always the last run's, never typed.
set -euo pipefail
results="${1:?usage: $0 RESULTS.tap FLAVOUR}"
flavour="${2:?usage: $0 RESULTS.tap FLAVOUR}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
out="$REPO/docs/hardening-results.md"
mkdir -p "$REPO/docs"

{
	echo "# Hardening results"
	echo
	echo "Written by \`make test\` (scripts/hardening-table.sh) from the last full"
	echo "run's TAP output; do not edit. Run: $(date -u +%Y-%m-%d), $flavour kernel,"
	echo "\`make test\`. Every row is a TAP case of the suite; its status is the case's."
	echo
	echo "| What was tried | How many | What held | Case |"
	echo "|---|---|---|---|"
	# A "# hardening:" line belongs to the next "ok"/"not ok" line.
	awk -F'|' '
		/^# hardening: / {
			sub(/^# hardening: /, "")
			rows[n++] = $0
			next
		}
		/^(ok|not ok) / {
			status = ($1 ~ /^ok/) ? "ok" : "**FAILED**"
			name = $0
			sub(/^(ok|not ok) [0-9]+ /, "", name)
			for (i = 0; i < n; i++) {
				split(rows[i], f, "|")
				gsub(/^ +| +$/, "", f[1]); gsub(/^ +| +$/, "", f[2]); gsub(/^ +| +$/, "", f[3])
				printf "| %s | %s | %s | %s `%s` |\n", f[1], f[2], f[3], status, name
			}
			n = 0
		}
	' "$results"
	echo
	echo "Kernel log: $(grep -E '^(ok|not ok) - guest: kernel log clean' "$results" | sed 's/^ok - guest: //; s/^not ok - guest: /FAILED: /' || echo 'not checked')."
} >"$out"
