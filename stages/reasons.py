"""The one list of stage names and the reasons each stage may drop a document for.

Stats, `removed/<stage>/`, `refinery stats` and the report all use these names; nothing else defines them.
"""

# Pipeline order (FineWeb's). A stage left out of the config is absent from the funnel.
STAGE_ORDER = (
    "read",
    "url_filter",
    "extract",
    "language",
    "gopher_repetition",
    "gopher_quality",
    "c4_quality",
    "fineweb_quality",
    "minhash_dedup",
    "pii",
)

# steps after the funnel that turn curated documents into training data (they drop nothing)
OUTPUT_STEPS = ("tokenizer", "shards")

# Any stage may also drop a document with ERROR when its own code raised on that document: the run goes on,
# the exception is logged, and the document is counted instead of lost.
ERROR = "error"

DROP_REASONS: dict[str, tuple[str, ...]] = {
    "read": (
        "not_response",  # warcinfo, request, metadata, revisit, conversion, resource ... records
        "not_html",  # response whose content type (declared or sniffed) is not HTML
        "binary",  # labelled HTML but the payload is binary
        "http_status",  # HTTP status other than 2xx (redirects and errors carry no page text)
        "undecodable",  # transfer/content encoding broken, or no charset decodes the bytes
        "truncated",  # record shorter than its Content-Length (warcio returns it silently)
        "bad_length",  # record longer than its Content-Length: the next record did not start where it ended
        "too_large",  # payload above stages.read.max_record_bytes
        "empty",  # response with no payload
    ),
    "url_filter": ("domain", "subdomain", "url", "hard_blacklisted", "soft_blacklisted", "blacklisted_subword"),
    "extract": ("timeout", "extraction_failed", "process_died", "empty"),
    "language": ("wrong_language", "low_score"),
    "gopher_repetition": (
        "empty",
        "dup_para_frac",
        "dup_para_char_frac",
        "dup_line_frac",
        "dup_line_char_frac",
        "top_2_gram",
        "top_3_gram",
        "top_4_gram",
        "duplicated_5_n_grams",
        "duplicated_6_n_grams",
        "duplicated_7_n_grams",
        "duplicated_8_n_grams",
        "duplicated_9_n_grams",
        "duplicated_10_n_grams",
    ),
    "gopher_quality": (
        "gopher_short_doc",
        "gopher_long_doc",
        "gopher_below_avg_threshold",
        "gopher_above_avg_threshold",
        "gopher_too_many_hashes",
        "gopher_too_many_ellipsis",
        "gopher_too_many_bullets",
        "gopher_too_many_end_ellipsis",
        "gopher_below_alpha_threshold",
        "gopher_enough_stop_words",
    ),
    "c4_quality": ("lorem_ipsum", "curly_bracket", "too_few_sentences"),
    "fineweb_quality": ("empty", "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio"),
    "minhash_dedup": ("duplicate",),
    "pii": (),  # rewrites text, drops nothing
}

# stat labels written by every stage (datatrove Stats), parsed back by `refinery stats`
STAT_IN = "in"
STAT_KEPT = "kept"
STAT_DROPPED_PREFIX = "dropped/"


def allowed_reasons(stage: str) -> tuple[str, ...]:
    return DROP_REASONS[stage] + (ERROR,)
