"""Sending the run's alerts: a webhook (`[alerts] webhook_url_env`) and/or a Prefect block.

The library finds the alerts and keeps what was sent (`persona_mining.personas.alerts`); this
module does the one thing the library never does, talk to the outside. A send that fails is
logged and recorded as failed (the next run tries it again); it never fails the run, whose
results are in the warehouse already.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

import duckdb

from persona_mining.config import Config
from persona_mining.personas.alerts import (
    FAILED,
    NOT_CONFIGURED,
    SENT,
    Alert,
    AlertOutcome,
    find_alerts,
    pending_alerts,
    record_alerts,
)


def send_alerts(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    *,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> list[AlertOutcome]:
    """Send the alerts of the latest window not sent before; record and return what happened.

    Without a webhook or a block configured the alerts are recorded as `not configured` (and
    listed in the run's artifact), so configuring one later does not send a backlog.
    """
    try:
        alerts = pending_alerts(con, find_alerts(con, trends=config.trends, config=config.alerts))
    except Exception as e:  # alerts are a courtesy: the run's results stand without them
        logger.warning("alerts: could not be computed (%s); the run goes on", e)
        return []
    outcomes = [_send(alert, config, logger) for alert in alerts]
    try:
        record_alerts(con, outcomes)
    except Exception as e:
        logger.warning("alerts: could not be recorded (%s); they may be sent again", e)
    return outcomes


def _send(
    alert: Alert, config: Config, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> AlertOutcome:
    settings = config.alerts
    channels: list[str] = []
    errors: list[str] = []
    if settings.webhook_url_env:
        url = os.environ.get(settings.webhook_url_env, "")
        if not url:
            errors.append(f"environment variable {settings.webhook_url_env} is not set")
        else:
            try:
                _post(url, alert.payload(), settings.timeout_seconds)
                channels.append("webhook")
            except (OSError, ValueError, urllib.error.URLError) as e:
                errors.append(f"webhook: {e}")
    if settings.block:
        try:
            _notify_block(settings.block, alert)
            channels.append(f"block:{settings.block}")
        except Exception as e:  # any block type may fail its own way
            errors.append(f"block {settings.block}: {e}")
    if not settings.webhook_url_env and not settings.block:
        return AlertOutcome(alert, NOT_CONFIGURED)
    for error in errors:
        logger.warning("alerts: %s not sent: %s", alert.key, error)
    if channels:
        return AlertOutcome(alert, SENT, ", ".join(channels), "; ".join(errors) or None)
    return AlertOutcome(alert, FAILED, None, "; ".join(errors))


def _post(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POST the alert as JSON; any status other than 2xx is a failure."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("the webhook URL must start with http:// or https://")
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": payload["message"], "alert": payload}).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "persona-mining"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


def _notify_block(name: str, alert: Alert) -> None:
    """Send through a saved Prefect notification block (`type/name`)."""
    from prefect.blocks.core import Block

    block: Any = Block.load(name)
    block.notify(body=alert.message, subject=f"persona-mining: {alert.kind.replace('_', ' ')}")
