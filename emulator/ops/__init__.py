"""Operations around every request: the clock, the throttle, metrics, the audit log, usage."""
