# SPDX-License-Identifier: MIT
#
# tests/build/kconfig-options.awk - list the symbols of Kconfig files, one
# tab-separated line each:
#	NAME TYPE DEFAULT RANGE_LO RANGE_HI HELP_LINES
# with "-" for a field the symbol does not have. Only the first default and
# the first range count (those without a condition come first in weft's
# files). Usage: awk -f kconfig-options.awk kconfig/Kconfig*

function flush()
{
	if (name != "")
		print name, type, def, lo, hi, help
	name = ""
	inhelp = 0
}

BEGIN { OFS = "\t" }

FNR == 1 { flush() }

/^(config|menuconfig)[ \t]/ {
	flush()
	name = $2
	type = def = lo = hi = "-"
	help = 0
	next
}

# menu, endmenu, source, comment, choice, if: the entry is over.
/^[^ \t]/ { flush(); next }

inhelp {
	if ($0 ~ /[^ \t]/)
		help++
	next
}

name == "" || /^[ \t]*#/ { next }

$1 ~ /^(bool|tristate|int|hex|string)$/ { type = $1; next }

$1 ~ /^def_(bool|tristate|int|hex|string)$/ {
	type = substr($1, 5)
	if (def == "-")
		def = $2
	next
}

$1 == "default" && def == "-" { def = $2; gsub(/"/, "", def); next }

$1 == "range" && lo == "-" { lo = $2; hi = $3; next }

$1 == "help" || $1 == "---help---" { inhelp = 1; next }

END { flush() }
