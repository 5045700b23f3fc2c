"""The npm versions inside each release's shipped `main.js`, as data.

Read off the bundle, not guessed: version strings in its sources (react 17.0.2,
three REVISION 184, core-js-pure 3.49.0), upstream's package.json/yarn.lock for the
rest, and every pin proven by `sourcemap_tree.verify_node_modules` (each file the map
names equals the installed file). 0.3.0's bundle was built on 2026-09-15 (its wheel's
file dates) from a lockfile newer than any upstream commit we can read, so where
several versions matched the date-nearest one that reproduces the map was chosen.

`packages`: install folder -> version (a nested `a/node_modules/b` is one npm placed
under `a`). `layout`: packages the map does not hold whose version decides where npm
hoists one it does (prop-types' react-is@16 on top keeps rc-util's react-is@18 nested).
`tools`: the loaders and compilers; webpack 5.108.4 reproduces the shipped runtime
modules text for text (5.104, 5.106, 5.110, 5.111 do not), less-loader 13 is the one
with `dist/cjs/index.js`, the path the shipped loader requests name.
"""

from __future__ import annotations

BUNDLE_PINS: dict[str, dict[str, dict[str, str]]] = {
    "0.3.0": {
        "packages": {
            "@babel/runtime": "7.29.7",
            "@babel/runtime-corejs3": "7.29.7",
            "@emotion/cache": "11.14.0",
            "@emotion/css": "11.1.3",
            "@emotion/hash": "0.9.2",
            "@emotion/memoize": "0.9.0",
            "@emotion/serialize": "1.3.3",
            "@emotion/sheet": "1.4.0",
            "@emotion/unitless": "0.10.0",
            "@emotion/utils": "1.4.2",
            "@rc-component/portal": "1.1.2",
            "@rc-component/trigger": "2.3.1",
            "classnames": "2.3.2",
            "clsx": "2.1.1",
            "core-js": "3.18.3",
            "core-js-pure": "3.49.0",
            "css-loader": "7.1.5",
            "d3-color": "3.1.0",
            "d3-dispatch": "3.0.1",
            "d3-drag": "3.0.0",
            "d3-ease": "3.0.1",
            "d3-interpolate": "3.0.1",
            "d3-polygon": "3.0.1",
            "d3-selection": "3.0.0",
            "d3-timer": "3.0.1",
            "d3-transition": "3.0.1",
            "d3-zoom": "3.0.0",
            "debounce": "3.0.0",
            "exenv": "1.2.2",
            "fast-equals": "4.0.3",
            "fast-json-patch": "3.1.1",
            "is-any-array": "3.0.0",
            "jquery": "4.0.0",
            "lodash": "4.18.1",
            "math-random": "2.0.1",
            "ml-savitzky-golay-generalized": "5.0.0",
            "object-assign": "4.1.1",
            "prop-types": "15.8.1",
            "rc-motion": "2.9.5",
            "rc-overflow": "1.5.0",
            "rc-resize-observer": "1.4.3",
            "rc-select": "14.16.8",
            "rc-tree": "5.13.1",
            "rc-tree-select": "5.27.0",
            "rc-util": "5.44.4",
            "rc-util/node_modules/react-is": "18.3.1",
            "rc-virtual-list": "3.19.2",
            "react": "17.0.2",
            "react-dom": "17.0.2",
            "react-draggable": "4.7.0",
            "react-grid-layout": "2.2.3",
            "react-lifecycles-compat": "3.0.4",
            "react-modal": "3.16.3",
            "react-resizable": "3.2.0",
            "react-resize-detector": "9.1.1",
            "react-scroll-to-bottom": "4.2.0",
            "react-scroll-to-bottom/node_modules/classnames": "2.3.1",
            "react-scroll-to-bottom/node_modules/prop-types": "15.7.2",
            "resize-observer-polyfill": "1.5.1",
            "scheduler": "0.20.2",
            "style-loader": "4.0.0",
            "stylis": "4.2.0",
            "three": "0.184.0",
            "warning": "4.0.3",
            "whatwg-fetch": "3.6.20",
        },
        "layout": {"react-is": "16.13.1"},
        "tools": {
            "webpack": "5.108.4",
            "babel-loader": "10.1.1",
            "@babel/core": "7.29.7",
            "@babel/preset-env": "7.29.7",
            "@babel/preset-react": "7.29.7",
            "@babel/plugin-proposal-class-properties": "7.18.6",
            "less": "4.9.1",
            "less-loader": "13.0.0",
        },
    },
}
