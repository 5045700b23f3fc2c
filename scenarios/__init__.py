"""The scenario catalogue: the TOML files beside this one (format: README.md).

Data, not code: this file only makes the folder the package `visdom_chaos.scenarios`, so
the catalogue ships with the tool and is found next to it (`visdom_chaos.scenario`).
"""
