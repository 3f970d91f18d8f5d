#!/bin/sh
# make install into a DESTDIR: the files land, a C program builds against
# the installed header and pkg-config file and validates a notification,
# and make uninstall removes it all.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; fail=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fail=1; fi; }
root=$tmp/root
make -s install DESTDIR="$root" PREFIX=/usr >"$tmp/out" 2>&1
t "make install" '[ $? -eq 0 ]'
for f in usr/lib/libgpush.a usr/lib/libgpush.so usr/include/gpush.h \
    usr/lib/pkgconfig/gpush.pc usr/libexec/gpush/gpush.fcgi \
    usr/share/gpush/htdocs/.htaccess usr/share/gpush/htdocs/robots.txt \
    usr/share/gpush/conf/apache-gpush.conf usr/share/gpush/conf/lighttpd.conf; do
	t "installed $f" "[ -e '$root/$f' ]"
done
cat > "$tmp/prog.c" <<'C'
#include <stdio.h>
#include <gpush.h>
int main(void) {
	char *env[] = { "HTTP_X_GOOG_CHANNEL_ID=c", "HTTP_X_GOOG_MESSAGE_NUMBER=104, 105",
	    "HTTP_X_GOOG_RESOURCE_STATE=update", "HTTP_X_GOOG_RESOURCE_ID=r",
	    "HTTP_X_GOOG_RESOURCE_URI=u", NULL };
	struct gpush_notification *n;
	enum gpush_err e = gpush_notification_parse(gpush_header_cgi, env, &n);
	printf("%d %s\n", gpush_http_status(e), gpush_strerror(e));
	gpush_notification_free(n);
	return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$root/usr/lib/pkgconfig"
cc "$tmp/prog.c" -o "$tmp/prog" $(pkg-config --cflags gpush) -L"$root/usr/lib" \
    -Wl,-Bstatic -lgpush -Wl,-Bdynamic $(pkg-config --libs json-c) 2>"$tmp/cc"
t "a program builds against the installed header (pkg-config)" '[ -x "$tmp/prog" ]'
t "and the library validates with it" '[ "$("$tmp/prog")" = "400 X-Goog-Message-Number is not an integer in 1..2^63-1" ]'
make -s uninstall DESTDIR="$root" PREFIX=/usr >/dev/null 2>&1
t "make uninstall leaves no file" '[ -z "$(find "$root" -type f -o -type l)" ]'

# make, then make install with another PREFIX (issue 13): the installed .pc
# names the install's paths, not the build's, and a program built with
# nothing but pkg-config's flags links and runs against it.
root2=$tmp/root2
make -s >"$tmp/out2" 2>&1 &&
    make -s install PREFIX=/opt/gpush DESTDIR="$root2" >>"$tmp/out2" 2>&1
t "make, then make install PREFIX=/opt/gpush" '[ $? -eq 0 ]'
pc=$root2/opt/gpush/lib/pkgconfig/gpush.pc
t "its gpush.pc says libdir=/opt/gpush/lib" 'grep -qx "libdir=/opt/gpush/lib" "$pc"'
t "and includedir=/opt/gpush/include" 'grep -qx "includedir=/opt/gpush/include" "$pc"'
t "and nothing of /usr/local" '! grep -q /usr/local "$pc"'
export PKG_CONFIG_SYSROOT_DIR="$root2" PKG_CONFIG_PATH="$root2/opt/gpush/lib/pkgconfig"
cc "$tmp/prog.c" -o "$tmp/prog2" $(pkg-config --cflags --libs gpush) 2>"$tmp/cc2"
t "a program builds with pkg-config --cflags --libs gpush alone" '[ -x "$tmp/prog2" ]'
t "and runs against the installed libgpush.so" \
    '[ "$(LD_LIBRARY_PATH="$root2/opt/gpush/lib" "$tmp/prog2")" = "400 X-Goog-Message-Number is not an integer in 1..2^63-1" ]'
[ $fail -eq 0 ] || { cat "$tmp/out2" "$tmp/cc2" "$pc" 2>/dev/null | sed 's/^/# /'; }
make -s >/dev/null 2>&1      # the tree back to its own PREFIX
echo "1..$n"
exit $fail
