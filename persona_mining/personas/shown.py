"""What the profiles and the report may show, analysed before they pick it.

Example tickets and common questions are read from `v_analysed_tickets` and
`v_analysed_questions`, which hold only texts the spaCy analysis has seen (names redacted).
Before the profiles are built, `analyse_shown` analyses every text they or the report can pick:
for each persona x issue cell that is shown (an over-indexed challenge, or a pair of the report's
"what to fix first"), the persona's tickets on the issue the pickers rank first, and the
questions those tickets repeat most. The number of texts grows with the cells shown, not with
the tickets.

The pickers and this module rank the same way, with the SQL built here: an example ticket says
something (`content_words_sql`), and a common question is one that several customers ask and
that belongs to the issue (`common_questions_sql`).
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
#: Distinct question wordings per shown cell analysed, the most common first.
QUESTION_CANDIDATES = 20
#: Words of letters an example ticket needs, placeholders and handles left out: "[HANDLE] Ok
#: thanks." or "[HANDLE] THE.. [URL]" tell a reader nothing about the issue.
MIN_CONTENT_WORDS = 3
#: Customers who must ask a question before it is called common: a question asked once is
#: one customer's, not the persona's.
MIN_ASKERS = 2

#: Placeholders (`[URL]`, `@[ID]`) and social-media handles (`@AmericanAir`, `[HANDLE]` once
#: analysed): who or what a text names, not what it says.
_PLACEHOLDERS_RE = r"@?\[[A-Z]+\]|@\w+"

_CELLS = """
    SELECT segment_id, topic_id FROM issue_by_persona
    WHERE model_id = $model AND significant AND lift > 1
    UNION
    SELECT segment_id, topic_id FROM v_issue_impact
    WHERE costly OR (impact IS NULL AND significant)
"""


def content_words_sql(text: str) -> str:
    """SQL counting the words of letters of the text expression `text`, placeholders and
    handles left out; pickers rank examples by `least(that, MIN_CONTENT_WORDS)` first."""
    return (
        f"len(regexp_extract_all(regexp_replace({text}, '{_PLACEHOLDERS_RE}', ' ', 'g'), "
        r"'\p{L}+'))"
    )


def question_wording_sql(question: str) -> str:
    """SQL giving what a question asks, to count its wordings as one: lower case, letters,
    digits and single spaces only, placeholders and handles left out ("[HANDLE] Where is my
    order?" and "@AmazonHelp where is my order" are one question)."""
    stripped = f"regexp_replace({question}, '{_PLACEHOLDERS_RE}', ' ', 'g')"
    letters = rf"regexp_replace(lower({stripped}), '[^\p{{L}}\p{{N}} ]+', '', 'g')"
    return rf"trim(regexp_replace({letters}, '\s+', ' ', 'g'))"


def common_questions_sql(cells: str) -> str:
    """SQL ranking the common questions of each (segment_id, topic_id) of the relation `cells`.

    A question (its wording, `question_wording_sql`) is common to a persona on an issue when at
    least `MIN_ASKERS` of the persona's customers ask it there, and specific to the issue when
    a larger share of the issue's tickets ask it than of all tickets: "What are my options?",
    asked on every issue alike, says nothing about any. The most specific and most asked come
    first (askers x log of that ratio, as tf-idf weighs a word), ties to the wording met first
    in the topic's order (most probable tickets first). Counting reads every question sentence;
    only `shown`, the first analysed wording (`v_analysed_questions`, names redacted), may be
    shown, and is NULL where none is analysed yet.

    Columns: segment_id, topic_id, question (the first wording met, for the analysis), shown,
    askers, rank (1 first). Parameter: `$model`, the topic model.
    """
    wording = question_wording_sql("question")
    return f"""WITH keyed AS (
            SELECT q.ticket_id, q.position, q.question, {wording} AS wording, tt.topic_id,
                   tt.probability
            FROM ticket_questions q
            JOIN ticket_topics tt ON tt.ticket_id = q.ticket_id AND tt.model_id = $model
            WHERE length(q.question) BETWEEN 10 AND 200
        ), assigned AS (
            SELECT count(*) AS tickets FROM ticket_topics WHERE model_id = $model
        ), on_topic AS (
            SELECT topic_id, count(*) AS tickets FROM ticket_topics
            WHERE model_id = $model AND topic_id IN (SELECT topic_id FROM {cells})
            GROUP BY ALL
        ), overall AS (
            SELECT wording, count(DISTINCT ticket_id) / any_value(a.tickets) AS share
            FROM keyed, assigned a WHERE wording <> '' GROUP BY wording
        ), in_topic AS (
            SELECT k.topic_id, k.wording, count(DISTINCT k.ticket_id) / any_value(o.tickets) AS share
            FROM keyed k JOIN on_topic o USING (topic_id) WHERE k.wording <> '' GROUP BY ALL
        ), asked AS (
            SELECT c.segment_id, c.topic_id, k.wording, k.question, a.question AS shown,
                   t.customer_id,
                   row_number() OVER (PARTITION BY c.segment_id, c.topic_id
                       ORDER BY k.probability DESC NULLS LAST, k.ticket_id, k.position) AS seen
            FROM (SELECT DISTINCT segment_id, topic_id FROM {cells}) c
            JOIN customer_segments cs ON cs.segment_id = c.segment_id
            JOIN tickets t ON t.customer_id = cs.customer_id
            JOIN keyed k ON k.ticket_id = t.ticket_id AND k.topic_id = c.topic_id
            LEFT JOIN v_analysed_questions a
                ON a.ticket_id = k.ticket_id AND a.position = k.position
            WHERE k.wording <> ''
        ), counted AS (
            SELECT segment_id, topic_id, wording, arg_min(question, seen) AS question,
                   arg_min(shown, seen) FILTER (WHERE shown IS NOT NULL) AS shown,
                   count(DISTINCT customer_id) AS askers, min(seen) AS first
            FROM asked GROUP BY ALL
        )
        SELECT c.segment_id, c.topic_id, c.question, c.shown, c.askers,
               row_number() OVER (PARTITION BY c.segment_id, c.topic_id
                   ORDER BY c.askers * ln(i.share / o.share) DESC, c.askers DESC, c.first) AS rank
        FROM counted c
        JOIN in_topic i USING (topic_id, wording)
        JOIN overall o USING (wording)
        WHERE c.askers >= {MIN_ASKERS} AND i.share > o.share"""


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
                    ORDER BY least({content_words_sql("p.text")}, {MIN_CONTENT_WORDS}) DESC,
                        tt.probability DESC NULLS LAST, tt.ticket_id) AS rank
                FROM cells c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN tickets t ON t.customer_id = cs.customer_id
                JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = $model
                    AND tt.topic_id = c.topic_id
                JOIN prepared_tickets p ON p.ticket_id = t.ticket_id
            ) WHERE rank <= $examples""",
            params,
        ).fetchall()
    ]
    questions = [
        question
        for (question,) in con.execute(
            f"""WITH cells AS ({_CELLS}), ranked AS ({common_questions_sql("cells")})
            SELECT DISTINCT question FROM ranked WHERE rank <= $questions""",
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
