"""Locust files (`locust -f loadtests/`, installed: `locust -f $(visdom-chaos locustfile)`).

Locust imports every .py here whose name does not start with "_", so this file only makes
the folder the package `visdom_chaos.loadtests`, which ships the Locust files with the tool.
"""
