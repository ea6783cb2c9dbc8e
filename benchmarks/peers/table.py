"""Markdown tables of scores."""

METRIC_COLUMNS = ("files", "tp", "fp", "tn", "fn", "errors (mal/ben)",
                  "skipped", "precision", "recall", "F1", "FPR")


def number(value):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "%.3f" % value
    return str(value)


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join(" --- " for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(number(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def metric_cells(scores):
    return [scores.files, scores.tp, scores.fp, scores.tn, scores.fn,
            "%d (%d/%d)" % (scores.errors, scores.errors_malicious,
                            scores.errors_benign),
            scores.skipped, scores.precision, scores.recall, scores.f1,
            scores.false_positive_rate]


def metrics_table(rows, first_header="tool"):
    """``rows``: (name, Scores) pairs; one table row each."""
    return markdown_table((first_header,) + METRIC_COLUMNS,
                          [[name] + metric_cells(s) for name, s in rows])
