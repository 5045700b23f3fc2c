"""Support code for the Locust files in loadtests/ (which must hold Locust files only).

knobs        every `--vc-…` custom argument, also loadable from a scenario TOML `[load]` table
scenario     `--vc-scenario` with a `visdom-chaos run` scenario: sources, counts, [[behaviour]] timeline
clients      Locust-aware training sources (incl. the image kind) and subscribers (live DELIVER stats)
fasthttp     a geventhttpclient stand-in for requests.Session (training requests)
users        what TrainingUser and the browser users do (TrainingJob, BrowserTab)
behaviours   scripted browser behaviour: abrupt/clean close, refresh, stall, flap, env switch
session      the per-process run folder, journals, server monitor and live clients
finish       test stop: quiescence, server truth, analysis, report, findings into Locust stats
distributed  per-worker summaries merged on the master through Locust custom messages
shapes       the load shapes (steady, ramp, spike, soak) as pure functions of time
hooks        the Locust event listeners tying the above together
"""
