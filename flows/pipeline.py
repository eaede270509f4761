"""The pipeline as a Prefect flow: prepare, embed, topics, segments, link, personas.

Each stage is a library function turned into a task; the flow body is the calls, in order.
Stages take the open warehouse connection, so task inputs are not cached (cache_policy NONE).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from persona_mining import db
from persona_mining.config import Config, load_config
from persona_mining.embed import SentenceTransformerEmbedder, embed_tickets
from persona_mining.link import link_issues
from persona_mining.nlp import load_pipeline
from persona_mining.personas import build_profiles
from persona_mining.prepare import prepare_tickets
from persona_mining.segments import build_segments
from persona_mining.topics import assign_topics, fit_topics, refit_due

prepare_task = task(prepare_tickets).with_options(name="prepare", cache_policy=NONE)
embed_task = task(embed_tickets).with_options(name="embed", cache_policy=NONE)
fit_task = task(fit_topics).with_options(name="topics-refit", cache_policy=NONE)
assign_task = task(assign_topics).with_options(name="topics-assign", cache_policy=NONE)
segments_task = task(build_segments).with_options(name="segments", cache_policy=NONE)
link_task = task(link_issues).with_options(name="link", cache_policy=NONE)
profiles_task = task(build_profiles).with_options(name="personas", cache_policy=NONE)


@flow(name="persona-pipeline", log_prints=False)
def persona_pipeline(
    config_path: str | None = None, db_path: str | None = None, refit: bool = False
) -> dict[str, Any]:
    """Run every stage after ingest on the warehouse; refit the topic model when asked or needed."""
    config = load_config(
        Path(config_path) if config_path else None, db=Path(db_path) if db_path else None
    )
    return run_stages(config, refit=refit)


def run_stages(config: Config, *, refit: bool = False) -> dict[str, Any]:
    """The flow body, callable from another flow with an already loaded config."""
    logger = get_run_logger()
    con = db.connect(config.warehouse.path)
    try:
        nlp, warning = load_pipeline(config.prepare.spacy_model)
        if warning:
            logger.warning(warning)
        results: dict[str, Any] = {}
        results["prepare"] = prepare_task(
            con,
            nlp=nlp,
            spacy_model=config.prepare.spacy_model if not warning else "blank",
            languages=config.prepare.languages,
            batch_size=config.prepare.batch_size,
            max_analysis_chars=config.prepare.max_analysis_chars,
        )
        embedder = SentenceTransformerEmbedder(
            config.models.embedding,
            device=config.models.device,
            batch_size=config.models.batch_size,
        )
        results["embed"] = embed_task(con, embedder=embedder)
        due = refit_due(con, config=config.topics)
        if refit or due:
            logger.info("topics: refit (%s)", "asked for" if refit else due)
            results["topics"] = fit_task(
                con,
                config=config.topics,
                embedding_model=embedder.name,
                models_dir=config.models.dir,
                embedder=embedder,
            )
        else:
            results["topics"] = assign_task(
                con, config=config.topics, embedding_model=embedder.name
            )
        results["segments"] = segments_task(con, personas=config.personas)
        results["link"] = link_task(con, config=config.link)
        results["personas"] = profiles_task(con)
        summary = {stage: asdict(result) for stage, result in results.items()}
        for stage, values in summary.items():
            logger.info("%s: %s", stage, json.dumps(values, default=str))
        create_markdown_artifact(key="persona-pipeline-summary", markdown=_markdown(summary))
        return summary
    finally:
        con.close()


def _markdown(summary: dict[str, dict[str, Any]]) -> str:
    lines = ["# persona-mining run", "", "| stage | result |", "|---|---|"]
    for stage, values in summary.items():
        shown = ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
        )
        lines.append(f"| {stage} | {shown} |")
    return "\n".join(lines)
