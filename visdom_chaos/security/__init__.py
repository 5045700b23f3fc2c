"""Security probe of a Visdom target: origin checks, login bypass, sid theft, malformed messages."""

from visdom_chaos.security.probe import (
    CHECKS,
    SECURITY_FILE,
    load_security,
    report_section,
    run_security_probe,
)

__all__ = ["CHECKS", "SECURITY_FILE", "load_security", "report_section", "run_security_probe"]
