# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/lib/ui.sh -- the dashboard's front-end libraries (static/package.json)
#
# Source it; it only defines functions.  ui_vendor_install runs `npm ci` on
# static/package.json and static/package-lock.json in a work directory
# OUTSIDE static/ (so node_modules, with its READMEs, tests and sources, is
# never under the directory lodestar-server serves), then copies exactly the
# files the page loads into static/vendor/ (not in git).  preact/hooks
# imports the bare specifier "preact", which a browser cannot resolve without
# an import map (an inline script, refused by the CSP): the copy points it at
# ./preact.module.js, and fails if that import is not where it was.  Nothing
# is done when static/vendor/ was made from the same lock.
#
# FUNCTIONS
#   ui_deps_install                  node and npm when missing (needs deps.sh;
#                                    npm may come with a nodejs that is not
#                                    Debian's, so it is asked for only when
#                                    there is no npm command)
#   ui_vendor_install ROOT WORKDIR   ROOT is the checkout; WORKDIR a scratch
#                                    directory (kept, reused by the next run)

# The files the page imports: package-relative source, then the name in vendor/.
UI_VENDOR_FILES="preact/dist/preact.module.js preact.module.js
preact/hooks/dist/hooks.module.js hooks.module.js
htm/dist/htm.module.js htm.module.js
uplot/dist/uPlot.esm.js uPlot.esm.js
uplot/dist/uPlot.min.css uPlot.min.css
js-yaml/dist/js-yaml.mjs js-yaml.mjs"

ui_deps_install() {
    command -v node >/dev/null || deps_install nodejs || return 1
    command -v npm >/dev/null || deps_install npm
}

ui_vendor_install() {
    local root=$1 work=$2 vendor=$1/static/vendor src name
    command -v npm >/dev/null || { echo "ui.sh: npm not found (apt-get install npm)" >&2; return 1; }
    if cmp -s "$root/static/package-lock.json" "$vendor/.lodestar-lock"; then
        return 0
    fi
    mkdir -p "$work" "$vendor" || return 1
    cp "$root/static/package.json" "$root/static/package-lock.json" "$work/" || return 1
    (cd "$work" && npm ci --no-audit --no-fund --ignore-scripts) >"$work/npm.log" 2>&1 ||
        { tail -20 "$work/npm.log" >&2; echo "ui.sh: npm ci failed in $work" >&2; return 1; }
    while read -r src name; do
        cp "$work/node_modules/$src" "$vendor/$name" ||
            { echo "ui.sh: $src is missing from the installed packages" >&2; return 1; }
    done <<<"$UI_VENDOR_FILES"
    grep -q 'from"preact"' "$vendor/hooks.module.js" ||
        { echo "ui.sh: preact/hooks no longer imports \"preact\" as expected" >&2; return 1; }
    sed -i 's|from"preact"|from"./preact.module.js"|g' "$vendor/hooks.module.js" || return 1
    cp "$root/static/package-lock.json" "$vendor/.lodestar-lock"
}
