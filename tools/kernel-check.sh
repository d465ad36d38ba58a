#!/usr/bin/env bash
# tools/kernel-check.sh - compare a kselftest-style config fragment with the
# running kernel's configuration.
#
# Usage: tools/kernel-check.sh [FRAGMENT]   (default: kconfig/kernel.config)
# Reads /proc/config.gz, else /boot/config-$(uname -r).
# Exit: 0 all present, 1 something missing, 2 no kernel config readable.
set -euo pipefail

frag=${1:-$(dirname "$0")/../kconfig/kernel.config}
rel=$(uname -r)

if [ ! -r "$frag" ]; then
	echo "kernel-check: cannot read fragment '$frag'" >&2
	exit 2
fi

if [ -r /proc/config.gz ]; then
	src=/proc/config.gz
	cfg=$(gzip -dc /proc/config.gz)
elif [ -r "/boot/config-$rel" ]; then
	src=/boot/config-$rel
	cfg=$(cat "/boot/config-$rel")
else
	echo "kernel-check: no configuration for kernel $rel:" >&2
	echo "kernel-check:   neither /proc/config.gz nor /boot/config-$rel is readable." >&2
	echo "kernel-check:   fix: 'modprobe configs' (CONFIG_IKCONFIG_PROC), or install" >&2
	echo "kernel-check:   the kernel's config file under /boot." >&2
	exit 2
fi

echo "kernel $rel, configuration from $src, checking $frag"
missing=0
total=0
while IFS= read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	opt=${line%%=*}
	want=${line#*=}
	total=$((total + 1))
	have=$(printf '%s\n' "$cfg" | sed -n "s/^$opt=//p" | head -n 1)
	if [ -z "$have" ]; then
		have="not set"
	fi
	# A built-in option satisfies a wish for a module, not the reverse.
	if [ "$have" = "$want" ] || { [ "$want" = m ] && [ "$have" = y ]; }; then
		continue
	fi
	printf '  MISSING %s=%s (kernel has: %s)\n' "$opt" "$want" "$have"
	missing=$((missing + 1))
done <"$frag"

if [ $missing -eq 0 ]; then
	echo "all $total options present"
	exit 0
fi
echo "$missing of $total options missing: rebuild the kernel with them, e.g."
echo "  scripts/kconfig/merge_config.sh .config $(realpath "$frag")"
exit 1
