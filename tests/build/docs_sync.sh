#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/build/docs_sync.sh - the documentation keeps up with the code:
# docs/building.md lists every Kconfig option (with its type, range and
# default), every kernel option of kconfig/kernel.config, every make target
# and variable and every package tools/deps.sh installs; every option has
# help text; the README's first screen shows `make demo` and `make check`;
# links between the documents resolve; man pages format cleanly.
# Reads the source tree only. Options: see tests/build/tap.sh.

# shellcheck disable=SC2317	# the test functions are called through tap_main
srcdir=${WEFT_SRCDIR:-}
if [ -z "$srcdir" ]; then
	srcdir=$(cd "$(dirname "$0")" && pwd)
	until [ -f "$srcdir/tests/build/tap.sh" ] || [ "$srcdir" = / ]; do
		srcdir=$(dirname "$srcdir")
	done
fi
# shellcheck source=tests/build/tap.sh
. "$srcdir/tests/build/tap.sh" || exit 2
export LC_ALL=C

doc=$srcdir/docs/building.md

# Kconfig symbols: NAME TYPE DEFAULT LO HI HELP_LINES, tab-separated.
kconfig_options()
{
	awk -f "$srcdir/tests/build/kconfig-options.awk" "$srcdir"/kconfig/Kconfig*
}

# The rows of docs/building.md's tables whose first cell is `CONFIG_X`:
# X, second cell, third cell (backticks and padding removed), tab-separated.
doc_config_rows()
{
	awk -F'|' '/^\| *`CONFIG_[A-Za-z0-9_]+` *\|/ {
		n = $2; t = $3; d = $4
		gsub(/[` ]/, "", n); sub(/^CONFIG_/, "", n)
		gsub(/`/, "", t); gsub(/^ +| +$/, "", t)
		gsub(/`/, "", d); gsub(/^ +| +$/, "", d)
		print n "\t" t "\t" d
	}' "$doc"
}

# Is WORD in docs/building.md between backticks (`WORD`, `make WORD ...`)?
documented()
{
	local w

	w=$(printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
	grep -qE "\`(make )?$w([ =][^\`]*)?\`" "$doc"
}

test_kconfig_options_documented()
{
	local name type def lo hi help want row bad=0

	[ -f "$doc" ] || fail "no docs/building.md"
	doc_config_rows >"$work/rows"
	while IFS=$'\t' read -r name type def lo hi help; do
		want=$type
		[ "$lo" != - ] && want="$type $lo..$hi"
		[ "$def" = - ] && [ "$type" = bool ] && def=n
		row=$(awk -F'\t' -v n="$name" '$1 == n { print; exit }' "$work/rows")
		if [ -z "$row" ]; then
			diag "CONFIG_$name: no row in docs/building.md's options table"
			bad=1
			continue
		fi
		IFS=$'\t' read -r _ t d <<<"$row"
		if [ "$t" != "$want" ]; then
			diag "CONFIG_$name: docs say type '$t', Kconfig says '$want'"
			bad=1
		fi
		if [ "$d" != "$def" ]; then
			diag "CONFIG_$name: docs say default '$d', Kconfig says '$def'"
			bad=1
		fi
	done < <(kconfig_options)
	[ "$bad" -eq 0 ] || fail "docs/building.md's options table is out of date (above)"
}
tap_test kconfig_options_documented

test_no_stale_option_rows()
{
	local name bad=0

	{
		kconfig_options | cut -f 1
		sed -n 's/^CONFIG_\([A-Za-z0-9_]*\)=.*/\1/p' "$srcdir/kconfig/kernel.config"
	} | sort -u >"$work/known"
	while IFS=$'\t' read -r name _; do
		if ! grep -qxF "$name" "$work/known"; then
			diag "CONFIG_$name is documented but is no Kconfig or kernel option"
			bad=1
		fi
	done < <(doc_config_rows)
	[ "$bad" -eq 0 ] || fail "docs/building.md has rows for options that do not exist"
}
tap_test no_stale_option_rows

test_kconfig_options_have_help()
{
	local name help bad=0

	while IFS=$'\t' read -r name _ _ _ _ help; do
		if [ "$help" -eq 0 ]; then
			diag "CONFIG_$name has no help text"
			bad=1
		fi
	done < <(kconfig_options)
	[ "$bad" -eq 0 ] || fail "options without help text"
}
tap_test kconfig_options_have_help

test_kernel_fragment_documented()
{
	local line name val row bad=0

	doc_config_rows >"$work/rows"
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		name=${line%%=*}
		name=${name#CONFIG_}
		val=${line#*=}
		row=$(awk -F'\t' -v n="$name" -v v="$val" '$1 == n && $2 == v { print; exit }' \
			"$work/rows")
		if [ -z "$row" ]; then
			diag "$line: no row '| \`CONFIG_$name\` | \`$val\` | why |' in the docs"
			bad=1
		elif [ -z "$(cut -f 3 <<<"$row")" ]; then
			diag "$line: the docs do not say what it is needed for"
			bad=1
		fi
	done <"$srcdir/kconfig/kernel.config"
	[ "$bad" -eq 0 ] || fail "kernel requirements missing from docs/building.md"
}
tap_test kernel_fragment_documented

test_make_targets_documented()
{
	local t bad=0

	find "$srcdir" -path "$srcdir/build" -prune -o -name Build.mk -print >"$work/mk"
	# shellcheck disable=SC2046
	sed -e ':a' -e '/\\$/{N;s/\\\n//;ba}' "$srcdir/Makefile" $(cat "$work/mk") |
		sed -n 's/^PHONY *+= *//p' | tr -s ' \t' '\n' | grep -v '^FORCE$' |
		sort -u >"$work/targets"
	[ -s "$work/targets" ] || fail "no PHONY targets found in the Makefile"
	while read -r t; do
		[ -n "$t" ] || continue
		if ! documented "$t"; then
			diag "make $t: not in docs/building.md"
			bad=1
		fi
	done <"$work/targets"
	[ "$bad" -eq 0 ] || fail "make targets missing from docs/building.md's targets table"
}
tap_test make_targets_documented

test_make_variables_documented()
{
	local v bad=0

	{
		sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\) *?=.*/\1/p' "$srcdir/Makefile"
		# Read by the Makefile without a default.
		printf '%s\n' V O CC AR CROSS_COMPILE SANITIZE T TIMEOUT_SCALE
	} | sort -u >"$work/vars"
	while read -r v; do
		if ! grep -qE "\`$v(=[^\`]*)?\`" "$doc"; then
			diag "$v: not in docs/building.md's variables table"
			bad=1
		fi
	done <"$work/vars"
	[ "$bad" -eq 0 ] || fail "make variables missing from docs/building.md"
}
tap_test make_variables_documented

test_deps_packages_documented()
{
	local p bad=0

	# The pkgs_GROUP="..." strings, which may span lines.
	awk '/^pkgs_[a-z]+="/ { on = 1; sub(/^pkgs_[a-z]+="/, "") }
		on { if (sub(/".*/, "")) { print; on = 0 } else print }' "$srcdir/tools/deps.sh" |
		tr -s ' \t' '\n' | grep . | sort -u >"$work/pkgs"
	[ -s "$work/pkgs" ] || fail "no pkgs_GROUP lists found in tools/deps.sh"
	while read -r p; do
		if ! grep -qF "\`$p\`" "$doc"; then
			diag "$p (tools/deps.sh): not in docs/building.md's package table"
			bad=1
		fi
	done <"$work/pkgs"
	[ "$bad" -eq 0 ] || fail "packages missing from docs/building.md"
}
tap_test deps_packages_documented

test_readme_first_screen()
{
	local r=$srcdir/README.md

	[ -f "$r" ] || fail "no README.md"
	head -n 24 "$r" >"$work/screen"
	grep -qw 'make demo' "$work/screen" || fail "README.md's first 24 lines lack 'make demo'"
	grep -qw 'make check' "$work/screen" || fail "README.md's first 24 lines lack 'make check'"
	grep -qE '^[[:space:]]*make check([[:space:]]|$)' "$srcdir/.ci/run" 2>/dev/null ||
		fail ".ci/run does not run make check"
}
tap_test readme_first_screen

# GitHub's anchor for a heading: lower case, punctuation dropped, - for spaces.
anchors()
{
	sed -n 's/^#\{1,6\} \{1,\}//p' "$1" | tr '[:upper:]' '[:lower:]' |
		sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'
}

test_doc_links_resolve()
{
	local f l path frag bad=0

	find "$srcdir/docs" -name '*.md' >"$work/md"
	echo "$srcdir/README.md" >>"$work/md"
	while read -r f; do
		[ -f "$f" ] || continue
		grep -oE '\]\([^) ]+\)' "$f" | sed -e 's/^](//' -e 's/)$//' >"$work/links" || true
		while read -r l; do
			case $l in http://* | https://* | mailto:*) continue ;; esac
			path=${l%%#*}
			frag=
			[[ $l == *'#'* ]] && frag=${l#*#}
			if [ -n "$path" ]; then
				path=$(dirname "$f")/$path
			else
				path=$f
			fi
			if [ ! -e "$path" ]; then
				diag "${f#"$srcdir"/}: link to $l: no such file"
				bad=1
			elif [ -n "$frag" ] && [[ $path == *.md ]] &&
				! anchors "$path" | grep -qxF -- "$frag"; then
				diag "${f#"$srcdir"/}: link to $l: no such heading"
				bad=1
			fi
		done <"$work/links"
	done <"$work/md"
	[ "$bad" -eq 0 ] || fail "broken links (above)"
}
tap_test doc_links_resolve

test_man_pages_format()
{
	local m n=0 bad=0

	command -v groff >/dev/null || skip "groff is not installed"
	for m in "$srcdir"/docs/man/*.[1-8]; do
		[ -f "$m" ] || continue
		n=$((n + 1))
		if ! groff -man -ww -z "$m" >"$work/groff" 2>&1 || [ -s "$work/groff" ]; then
			sed 's/^/    /' "$work/groff"
			diag "${m#"$srcdir"/}: groff warnings"
			bad=1
		fi
		if ! grep -q '^\.SH NAME' "$m"; then
			diag "${m#"$srcdir"/}: no NAME section"
			bad=1
		fi
	done
	[ "$n" -gt 0 ] || skip "no man pages under docs/man"
	[ "$bad" -eq 0 ] || fail "man pages with problems (above)"
}
tap_test man_pages_format

tap_main "$@"
