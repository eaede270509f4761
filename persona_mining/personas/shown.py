"""What the profiles and the report may show, analysed before they pick it.

Example tickets and common questions are read from `v_analysed_tickets` and
`v_analysed_questions`, which hold only texts the spaCy analysis has seen (names redacted).
Before the profiles are built, `analyse_shown` analyses every text they or the report can pick:
for each persona x issue cell that is shown (an over-indexed challenge, or a pair of the report's
"what to fix first"), the persona's tickets on the issue the pickers rank first, and the
questions those tickets repeat most. The number of texts grows with the cells shown, not with
the tickets.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from persona_mining.config import PrepareConfig
from persona_mining.text.analysis import AnalysisResult, Loaded, redact_for_display
from persona_mining.topics.model import current_model

#: Tickets per shown cell analysed, in the pickers' order (most typical first): enough for the
#: report's examples after near-duplicates are dropped.
EXAMPLE_CANDIDATES = 30
#: Distinct question wordings per shown cell analysed, the most repeated first.
QUESTION_CANDIDATES = 20

_CELLS = """
    SELECT segment_id, topic_id FROM issue_by_persona
    WHERE model_id = $model AND significant AND lift > 1
    UNION
    SELECT segment_id, topic_id FROM v_issue_impact
    WHERE costly OR (impact IS NULL AND significant)
"""


def analyse_shown(
    con: duckdb.DuckDBPyConnection,
    *,
    config: PrepareConfig,
    load: Callable[[], Loaded] | None = None,
    processes: int = 1,
) -> AnalysisResult:
    """Analyse the example tickets and questions the profiles and the report can show.

    Args:
        con: warehouse connection.
        config: the `[prepare]` section (its `spacy_model` does the analysis).
        load: gives the loaded pipeline, called only when something needs analysing.
        processes: `[scale] processes`, for a large analysis (`redact_for_display`).
    """
    current = current_model(con)
    if current is None:
        return redact_for_display(con, config=config, load=load, processes=processes)
    params = {"model": current[0], "examples": EXAMPLE_CANDIDATES}
    tickets = [
        ticket
        for (ticket,) in con.execute(
            f"""WITH cells AS ({_CELLS})
            SELECT ticket_id FROM (
                SELECT tt.ticket_id, row_number() OVER (PARTITION BY c.segment_id, c.topic_id
                    ORDER BY tt.probability DESC NULLS LAST, tt.ticket_id) AS rank
                FROM cells c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN tickets t ON t.customer_id = cs.customer_id
                JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = $model
                    AND tt.topic_id = c.topic_id
            ) WHERE rank <= $examples""",
            params,
        ).fetchall()
    ]
    questions = [
        question
        for (question,) in con.execute(
            f"""WITH cells AS ({_CELLS}),
            asked AS (
                SELECT c.segment_id, c.topic_id, q.question, count(*) AS n
                FROM cells c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN tickets t ON t.customer_id = cs.customer_id
                JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = $model
                    AND tt.topic_id = c.topic_id
                JOIN ticket_questions q ON q.ticket_id = t.ticket_id
                WHERE length(q.question) BETWEEN 10 AND 200
                GROUP BY ALL
            )
            SELECT DISTINCT question FROM (
                SELECT question, row_number() OVER (PARTITION BY segment_id, topic_id
                    ORDER BY n DESC, question) AS rank
                FROM asked
            ) WHERE rank <= $questions""",
            {"model": current[0], "questions": QUESTION_CANDIDATES},
        ).fetchall()
    ]
    return redact_for_display(
        con,
        ticket_ids=tickets,
        questions=questions,
        config=config,
        load=load,
        processes=processes,
    )
