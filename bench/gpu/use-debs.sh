# Sourced by bench/gpu/run.sh and first-run.sh from the repository root: the Debian packages in
# .debs/ (bench/gpu/fetch-debs.sh) unpacked into a private prefix and put on the library,
# header and pkg-config paths, where the machine lacks libpcre2 (a lent GPU machine: no apt).
if [ -d .debs ] && ! pkg-config --exists libpcre2-8 2>/dev/null; then
    pre=$PWD/.debs/root
    for f in .debs/*.deb; do dpkg -x "$f" "$pre" 2>/dev/null || true; done
    export PKG_CONFIG_PATH=$pre/usr/lib/x86_64-linux-gnu/pkgconfig:$pre/usr/share/pkgconfig
    export LIBRARY_PATH=$pre/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=$pre/usr/lib/x86_64-linux-gnu:$pre/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export C_INCLUDE_PATH=$pre/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}
    # the .pc files name /usr as prefix: point them at the private prefix
    sed -i "s|^prefix=/usr$|prefix=$pre/usr|" "$pre"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc 2>/dev/null
fi
