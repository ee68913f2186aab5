"""The PDF toolkit of the evidence documents (IQ report, configuration-state report, environment diff): reportlab's
platypus, laid out once for a Quality reviewer.

Every document is A4 portrait in the PDF standard fonts (Helvetica), with:

* a header on every page: the document's title and its id;
* a footer on every page: "Page x of y" (the total is known only once every page is laid out, so the canvas keeps
  each page and numbers them all when the document is saved: :class:`NumberedCanvas`);
* tables whose header row repeats on every page they run over, every cell a wrapping Paragraph (a long URN or
  ARN is broken inside the column, never drawn over the next one);
* signature blocks (executed by, reviewed by, approved by: name, role, date, signature) kept whole on one page;
* charts drawn with reportlab.graphics (a stacked horizontal bar chart).

The bytes do not depend on when a document was made (reportlab's `invariant`: no creation time, no random file
id): the same content gives the same file, so a document's sha256 can be recorded and checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

PAGE = A4
MARGIN = 18 * mm
WIDTH = PAGE[0] - 2 * MARGIN - 12  # the width every table and chart is laid out in (the frame less its padding)
BARS_PER_CHART = 30  # more categories continue in the next chart: a drawing never splits over pages
FONT, BOLD = "Helvetica", "Helvetica-Bold"
SIGNATURE_ROLES = ("Executed by", "Reviewed by", "Approved by")

# Results and categories as the reader sees them: one colour each, the same in tables and charts.
PASS, FAIL, NOT_VERIFIABLE = "pass", "fail", "not verifiable"
SHADES: Mapping[str, Any] = {
    PASS: colors.HexColor("#2e7d32"),
    FAIL: colors.HexColor("#c62828"),
    NOT_VERIFIABLE: colors.HexColor("#9e9e9e"),
}
ROW_TINTS: Mapping[str, Any] = {
    PASS: colors.HexColor("#e8f5e9"),
    FAIL: colors.HexColor("#ffebee"),
    NOT_VERIFIABLE: colors.HexColor("#f5f5f5"),
}
HEADER_FILL = colors.HexColor("#e0e0e0")
GRID = colors.HexColor("#9e9e9e")

_BASE = getSampleStyleSheet()
STYLES: Mapping[str, ParagraphStyle] = {
    "title": ParagraphStyle("title", parent=_BASE["Title"], fontName=BOLD, fontSize=18, leading=22, alignment=TA_LEFT,
                            spaceAfter=4 * mm),
    "h1": ParagraphStyle("h1", parent=_BASE["Heading1"], fontName=BOLD, fontSize=14, leading=17, spaceBefore=5 * mm,
                         spaceAfter=2 * mm),
    "h2": ParagraphStyle("h2", parent=_BASE["Heading2"], fontName=BOLD, fontSize=11.5, leading=14, spaceBefore=4 * mm,
                         spaceAfter=1.5 * mm),
    "body": ParagraphStyle("body", parent=_BASE["BodyText"], fontName=FONT, fontSize=9.5, leading=12.5,
                           spaceAfter=2 * mm),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10, splitLongWords=1),
    "head": ParagraphStyle("head", fontName=BOLD, fontSize=8, leading=10),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#424242")),
}


# The standard fonts draw the Windows-1252 characters only; anything else would print as an empty box. What a value
# may carry beyond them is written out, and the rest is marked, never dropped silently.
_SPELLED = str.maketrans({"\u2192": "->", "\u2190": "<-", "\u2265": ">=", "\u2264": "<=", "\u2260": "!=",
                          "\u2713": "yes", "\u2717": "no", "\u2500": "-", "\u2502": "|", "\u2514": "+",
                          "\u251c": "+", "\u200b": ""})


def printable(value: str) -> str:
    """`value` in characters the standard fonts draw: arrows and comparisons spelled out, anything else as `?`."""
    spelled = value.translate(_SPELLED)
    return spelled.encode("cp1252", errors="replace").decode("cp1252")


def text(value: Any) -> str:
    """A value as a reader sees it in a cell: booleans as yes/no, nothing as a dash, lists joined."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(text(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items()) or "-"
    return str(value)


def para(value: Any, style: str = "cell") -> Paragraph:
    """A wrapping paragraph of a plain value (escaped: a value never becomes markup)."""
    return Paragraph(escape(printable(text(value))), STYLES[style])


class NumberedCanvas(pdfcanvas.Canvas):
    """A canvas that keeps every page until the document is saved, then writes "Page x of y" on each: the total is
    known only then. `decorate(canvas, page, total)` draws the header and footer of a page."""

    def __init__(self, *args: Any, decorate: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []
        self._decorate = decorate

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            if self._decorate is not None:
                self._decorate(self, number, total)
            super().showPage()
        super().save()


class Document:
    """One evidence document: add its parts in reading order, then :meth:`build` it into `path`."""

    def __init__(self, path: Path | str, *, document_id: str, title: str, subject: str = ""):
        self.path = Path(path)
        self.document_id = document_id
        self.title = title
        self.subject = subject
        self.story: list[Any] = []

    # -- text -----------------------------------------------------------------------------------------------
    def heading(self, value: str, level: int = 1) -> None:
        style = "h1" if level == 1 else "h2"
        self.story.append(CondPageBreak(30 * mm))  # a heading never ends a page alone
        self.story.append(Paragraph(escape(printable(value)), STYLES[style]))

    def paragraph(self, value: str, style: str = "body") -> None:
        self.story.append(Paragraph(escape(printable(value)), STYLES[style]))

    def markup(self, value: str, style: str = "body") -> None:
        """A paragraph with reportlab's inline markup (<b>, <i>); the caller escapes any value in it."""
        self.story.append(Paragraph(printable(value), STYLES[style]))

    def space(self, height_mm: float = 3) -> None:
        self.story.append(Spacer(1, height_mm * mm))

    def page_break(self) -> None:
        self.story.append(PageBreak())

    # -- tables ---------------------------------------------------------------------------------------------
    def facts(self, rows: Sequence[tuple[str, Any]], label_width: float = 0.3) -> None:
        """A two-column table of labelled facts (the title block of a document)."""
        data = [[Paragraph(escape(label), STYLES["head"]), para(value)] for label, value in rows]
        table = Table(data, colWidths=[WIDTH * label_width, WIDTH * (1 - label_width)])
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("BACKGROUND", (0, 0), (0, -1), HEADER_FILL),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]))
        self.story.append(table)
        self.space()

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None,
              tints: Sequence[str | None] | None = None) -> None:
        """A table that splits over pages with its header row repeated; `widths` are fractions of the page width
        (default: equal), `tints` a result per row (pass, fail, not verifiable) that shades it."""
        if not rows:
            self.paragraph("(none)", "small")
            return
        fractions = list(widths) if widths else [1 / len(header)] * len(header)
        data = [[Paragraph(escape(printable(h)), STYLES["head"]) for h in header]]
        data += [[c if isinstance(c, Paragraph) else para(c) for c in row] for row in rows]
        table = Table(data, colWidths=[WIDTH * f for f in fractions], repeatRows=1)
        style = [
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        for i, tint in enumerate(tints or (), start=1):
            if tint in ROW_TINTS:
                style.append(("BACKGROUND", (0, i), (-1, i), ROW_TINTS[tint]))
        table.setStyle(TableStyle(style))
        self.story.append(table)
        self.space()

    # -- signatures -----------------------------------------------------------------------------------------
    def signatures(self, names: Mapping[str, str] | None = None, roles: Sequence[str] = SIGNATURE_ROLES) -> None:
        """A block per role (executed by, reviewed by, approved by): name, role/function, date (UTC) and a line to
        sign on, all on one page. `names` fills in what is known already (who executed)."""
        names = names or {}
        blank = Paragraph("", STYLES["cell"])
        blocks: list[Any] = [Paragraph("Signatures", STYLES["h1"])]
        for role in roles:
            rows = [
                [Paragraph(escape(role), STYLES["head"]), blank],
                [para("Name"), para(names[role]) if names.get(role) else blank],
                [para("Role / function"), blank],
                [para("Date (UTC)"), blank],
                [para("Signature"), blank],
            ]
            table = Table(rows, colWidths=[WIDTH * 0.3, WIDTH * 0.7], rowHeights=[None, 9 * mm, 9 * mm, 9 * mm, 16 * mm])
            table.setStyle(TableStyle([
                ("SPAN", (0, 0), (-1, 0)),
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
                ("GRID", (0, 0), (-1, -1), 0.4, GRID),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]))
            blocks += [table, Spacer(1, 4 * mm)]
        self.story.append(KeepTogether(blocks))

    # -- charts ---------------------------------------------------------------------------------------------
    def charts(self, drawings: Sequence[Drawing]) -> None:
        for drawing in drawings:
            self.story.append(KeepTogether([drawing, Spacer(1, 3 * mm)]))

    # -- output ---------------------------------------------------------------------------------------------
    def _decorate(self, canvas: pdfcanvas.Canvas, page: int, total: int) -> None:
        width, height = PAGE
        canvas.saveState()
        canvas.setFont(BOLD, 8.5)
        canvas.drawString(MARGIN, height - 11 * mm, printable(self.title))
        canvas.setFont(FONT, 8.5)
        canvas.drawRightString(width - MARGIN, height - 11 * mm, printable(f"Document {self.document_id}"))
        canvas.setStrokeColor(GRID)
        canvas.line(MARGIN, height - 13 * mm, width - MARGIN, height - 13 * mm)
        canvas.line(MARGIN, 13 * mm, width - MARGIN, 13 * mm)
        canvas.drawString(MARGIN, 9 * mm, printable(self.document_id))
        canvas.drawRightString(width - MARGIN, 9 * mm, f"Page {page} of {total}")
        canvas.restoreState()

    def build(self) -> Path:
        """Lay the document out and write it; returns its path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        template = SimpleDocTemplate(
            str(self.path), pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
            bottomMargin=MARGIN, title=f"{self.title} {self.document_id}", subject=self.subject,
            author="envctl", creator="envctl", invariant=1,
        )
        decorate = self._decorate

        class _Canvas(NumberedCanvas):
            def __init__(self, *args: Any, **kwargs: Any):
                super().__init__(*args, decorate=decorate, **kwargs)

        template.build(list(self.story), canvasmaker=_Canvas)
        return self.path


def stacked_bars(categories: Sequence[str], series: Mapping[str, Sequence[int]], title: str,
                 fills: Mapping[str, Any] | None = None) -> list[Drawing]:
    """A horizontal bar per category, stacked by series (pass/fail/not verifiable per instance and resource type;
    differences per category), with a legend and the title above; counts are whole numbers. More than
    BARS_PER_CHART categories continue in further charts (a drawing is never split over pages)."""
    categories = list(categories)
    if not categories:
        return [_bars([], {name: [] for name in series}, title, fills or {})]
    charts = []
    for start in range(0, len(categories), BARS_PER_CHART):
        part = slice(start, start + BARS_PER_CHART)
        charts.append(_bars(categories[part], {n: list(v)[part] for n, v in series.items()},
                            title if start == 0 else f"{title} (continued)", fills or {}))
    return charts


def _bars(categories: list[str], series: Mapping[str, list[int]], title: str, fills: Mapping[str, Any]) -> Drawing:
    names = list(series)
    bar_height = 3.5 * mm
    plot_height = max(len(categories), 1) * bar_height * 1.5
    height = plot_height + 24 * mm
    drawing = Drawing(WIDTH, height)
    drawing.add(String(0, height - 5 * mm, printable(title), fontName=BOLD, fontSize=10))
    chart = HorizontalBarChart()
    chart.x = 55 * mm
    chart.y = 8 * mm
    chart.width = WIDTH - chart.x - 5 * mm
    chart.height = plot_height
    chart.data = [series[n] or [0] for n in names] if categories else [[0] for _ in names]
    chart.categoryAxis.categoryNames = [printable(c) for c in categories] or ["(none)"]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.reverseDirection = 1  # the first category on top
    chart.categoryAxis.style = "stacked"
    top = max((sum(column) for column in zip(*chart.data)), default=0)
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max(top, 1)
    chart.valueAxis.valueStep = max(1, -(-max(top, 1) // 8))
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d"
    chart.barWidth = bar_height
    for i, name in enumerate(names):
        chart.bars[i].fillColor = fills.get(name, SHADES.get(name, colors.HexColor("#1565c0")))
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = chart.x, height - 10 * mm
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.fontName, legend.fontSize = FONT, 7.5
    legend.dx = legend.dy = 2.5 * mm
    legend.deltax = 38 * mm
    legend.colorNamePairs = [(chart.bars[i].fillColor, printable(f"{name} ({sum(series[name])})"))
                             for i, name in enumerate(names)]
    drawing.add(legend)
    return drawing
