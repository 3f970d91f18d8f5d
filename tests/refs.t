#!/bin/sh
# Every repository file that the shipped documents and templates name
# exists: conf/apache-gpush.conf once sent readers to "INSTALL.server",
# which never did.  A name is INSTALL*, README* or a path under one of the
# tree's folders, as written in the text (a brace list such as
# lib/libgpush.{a,so} is checked by its stem; bench/out/ is made by make
# bench, not shipped).
cd "$(dirname "$0")/.." || exit 1
n=0; fail=0
for f in conf/* htdocs/.htaccess htdocs/robots.txt INSTALL README.md tool/gpush.1; do
	[ -f "$f" ] || continue
	bad=$(grep -oE "(^|[ \`'(\"])(INSTALL[.A-Za-z]*|README[.A-Za-z]*|(conf|tests|tool|lib|htdocs|cgi|examples|bench|mk)/[A-Za-z0-9_.-][A-Za-z0-9_./-]*)" "$f" |
	    sed "s|^[ \`'(\"]||; s|[.,)]*\$||" | sort -u | while read -r p; do
		case $p in bench/out/*) continue ;; esac
		[ -e "$p" ] || ls -d "$p"* >/dev/null 2>&1 || printf '%s ' "$p"
	done)
	n=$((n + 1))
	if [ -z "$bad" ]; then
		echo "ok $n - every file $f names exists"
	else
		echo "not ok $n - $f names files that do not exist: $bad"
		fail=1
	fi
done
echo "1..$n"
exit $fail
