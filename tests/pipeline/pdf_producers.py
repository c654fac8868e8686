"""The producers of the PDF test set (pdf_fixtures.py): each turns a case (font, layout, header,
gold blocks) into what LibreOffice, WeasyPrint, fpdf2 or ReportLab need, the way a user of that
tool would write Tibetan with it."""

from __future__ import annotations

import html
import io
import warnings

FONTS = {
    # name as fontconfig knows it -> file (fpdf2 and ReportLab need the file)
    "Tibetan Machine Uni": "/usr/share/fonts/truetype/tibetan-machine/TibetanMachineUni.ttf",
    "Noto Serif Tibetan": "/usr/share/fonts/truetype/noto/NotoSerifTibetan-Regular.ttf",
    "DDC Uchen": "/usr/share/fonts/truetype/tibetan/DDC_Uchen.ttf",
    "Monlam Uni OuChan2": "/usr/share/fonts/truetype/tibetan/Monlam Uni OuChan2.ttf",
}
FOOTER = "ཤོག་ངོས། "


def html_doc(case) -> str:
    size, page = ("12pt", "A5") if case.layout != "columns" else ("11pt", "A4")
    css = f"""@page {{ size: {page}; margin: 2cm 1.6cm;
  @top-center {{ content: "{case.header}"; font-family: '{case.font}'; font-size: 9pt }}
  @bottom-center {{ content: "{FOOTER}" counter(page, tibetan); font-family: '{case.font}'; font-size: 9pt }} }}
@page :right {{ @top-center {{ content: "{case.blocks[0][1]}"; font-family: '{case.font}'; font-size: 9pt }} }}
body {{ font-family: '{case.font}'; font-size: {size}; line-height: 1.7 }}
h1 {{ font-size: 15pt }} .cols {{ column-count: 2; column-gap: 1cm }}
table {{ border-collapse: collapse; width: 100% }} td {{ border: 0.5pt solid #000; padding: 3pt; vertical-align: top }}"""
    body = []
    for kind, content in case.blocks:
        if kind == "h":
            body.append(f"<h1>{html.escape(content)}</h1>")
        elif kind == "p":
            body.append(f"<p>{html.escape(content)}</p>")
        else:
            rows = ("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in content)
            body.append("<table>" + "".join(rows) + "</table>")
    if case.layout == "columns":
        body = [body[0], '<div class="cols">', *body[1:], "</div>"]
    return (
        f'<!doctype html><html lang="bo"><meta charset="utf-8"><style>{css}</style><body>{"".join(body)}</body></html>'
    )


_NS = " ".join(
    f'xmlns:{k}="urn:oasis:names:tc:opendocument:xmlns:{v}"'
    for k, v in {
        "office": "office:1.0",
        "style": "style:1.0",
        "text": "text:1.0",
        "table": "table:1.0",
        "fo": "xsl-fo-compatible:1.0",
        "svg": "svg-compatible:1.0",
    }.items()
)


def fodt_doc(case) -> str:
    """Flat ODT: LibreOffice's own format, so the page style carries the header/footer and page number."""
    e = html.escape
    size, (w, h) = ("12pt", ("14.8cm", "21cm")) if case.layout != "columns" else ("11pt", ("21cm", "29.7cm"))
    txt = (
        f'style:font-name="F" style:font-name-complex="F" style:font-name-asian="F" fo:font-size="{size}" '
        f'style:font-size-complex="{size}" style:language-complex="bo" style:country-complex="CN"'
    )
    body = []
    for kind, content in case.blocks:
        if kind == "h":
            body.append(f'<text:h text:style-name="H" text:outline-level="1">{e(content)}</text:h>')
        elif kind == "p":
            body.append(f'<text:p text:style-name="P">{e(content)}</text:p>')
        else:
            cells = (
                "<table:table-row>"
                + "".join(
                    f'<table:table-cell table:style-name="C" office:value-type="string"><text:p>{e(c)}</text:p></table:table-cell>'
                    for c in row
                )
                + "</table:table-row>"
                for row in content
            )
            body.append(
                '<table:table table:name="T1" table:style-name="T"><table:table-column table:number-columns-repeated="3"/>'
                + "".join(cells)
                + "</table:table>"
            )
    if case.layout == "columns":
        body = [body[0], '<text:section text:style-name="S" text:name="S1">', *body[1:], "</text:section>"]
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<office:document {_NS} office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls><style:font-face style:name="F" svg:font-family="'{case.font}'"/></office:font-face-decls>
<office:styles><style:default-style style:family="paragraph"><style:text-properties {txt}/></style:default-style></office:styles>
<office:automatic-styles>
<style:page-layout style:name="pm"><style:page-layout-properties fo:page-width="{w}" fo:page-height="{h}" fo:margin-top="1.2cm" fo:margin-bottom="1.2cm" fo:margin-left="1.8cm" fo:margin-right="1.8cm"/>
<style:header-style><style:header-footer-properties fo:min-height="0cm" fo:margin-bottom="0.5cm"/></style:header-style>
<style:footer-style><style:header-footer-properties fo:min-height="0cm" fo:margin-top="0.5cm"/></style:footer-style></style:page-layout>
<style:style style:name="H" style:family="paragraph"><style:text-properties fo:font-size="15pt" style:font-size-complex="15pt"/></style:style>
<style:style style:name="P" style:family="paragraph"><style:paragraph-properties fo:line-height="150%" fo:margin-bottom="0.2cm" fo:text-align="justify"/></style:style>
<style:style style:name="HF" style:family="paragraph"><style:paragraph-properties fo:text-align="center"/><style:text-properties fo:font-size="9pt" style:font-size-complex="9pt"/></style:style>
<style:style style:name="S" style:family="section"><style:section-properties><style:columns fo:column-count="2" fo:column-gap="1cm"/></style:section-properties></style:style>
<style:style style:name="T" style:family="table"><style:table-properties style:width="11.2cm" table:align="margins"/></style:style>
<style:style style:name="C" style:family="table-cell"><style:table-cell-properties fo:padding="0.1cm" fo:border="0.5pt solid #000000"/></style:style>
</office:automatic-styles>
<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm">
<style:header><text:p text:style-name="HF">{e(case.header)}</text:p></style:header>
<style:footer><text:p text:style-name="HF">{FOOTER}<text:page-number text:select-page="current">1</text:page-number></text:p></style:footer>
</style:master-page></office:master-styles>
<office:body><office:text>{"".join(body)}</office:text></office:body></office:document>
"""


def fpdf2_pdf(case) -> bytes:
    from fpdf import FPDF

    class Doc(FPDF):
        def header(self) -> None:
            self.set_font("tib", size=9)
            self.cell(0, 8, case.header, align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(3)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("tib", size=9)
            self.cell(0, 8, f"{FOOTER}{tibetan_digits(self.page_no())}", align="C")

    with warnings.catch_warnings():  # fpdf2 2.8.5 notice that its A5 size was corrected
        warnings.simplefilter("ignore")
        pdf = Doc(format="A5" if case.layout != "columns" else "A4")
    pdf.add_font("tib", fname=FONTS[case.font])
    pdf.set_text_shaping(True)
    pdf.add_page()
    size = 12 if case.layout != "columns" else 11
    for kind, content in case.blocks:
        pdf.set_font("tib", size=15 if kind == "h" else size)
        if kind == "table":
            with pdf.table(col_widths=(1, 2, 2), first_row_as_headings=False, line_height=7) as table:
                for row in content:
                    cells = table.row()
                    for c in row:
                        cells.cell(c)
            pdf.ln(4)
        elif case.layout in ("columns", "zigzag") and kind == "p":
            continue  # written below, all paragraphs in one column flow
        else:
            pdf.multi_cell(0, 9 if kind == "h" else size * 0.6, content, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    if case.layout == "zigzag":
        _zigzag(pdf, [content for kind, content in case.blocks if kind == "p"], size)
    if case.layout == "columns":
        pdf.set_font("tib", size=size)
        with pdf.text_columns(ncols=2, gutter=10, text_align="J", line_height=1.6) as cols:
            for kind, content in case.blocks:
                if kind == "p":
                    with cols.paragraph(bottom_margin=2) as par:
                        par.write(content)
    return bytes(pdf.output())


def tibetan_digits(n: int) -> str:
    return "".join(chr(0x0F20 + int(d)) for d in str(n))


def _zigzag(pdf, paras: list[str], size: float) -> None:
    """Two columns written row by row: left line, right line, next row (column text still flows
    left column first, then right, then the next page)."""
    gutter, lh = 10, size * 0.6
    col_w = (pdf.epw - gutter) / 2
    pdf.set_font("tib", size=size)
    lines: list[str] = []
    for t in paras:
        lines += [ln for ln in pdf.multi_cell(col_w, lh, t, dry_run=True, output="LINES")] + [""]
    top = pdf.get_y() + lh
    rows = int((pdf.h - pdf.b_margin - top) / lh)
    while lines:
        left, right, lines = lines[:rows], lines[rows : 2 * rows], lines[2 * rows :]
        for r in range(rows):
            y = top + r * lh
            # cell(), not text(): fpdf2's text() misplaces Noto's vowel glyphs (GPOS marks)
            for x, col in ((pdf.l_margin, left), (pdf.l_margin + col_w + gutter, right)):
                if r < len(col) and col[r]:
                    pdf.set_xy(x, y)
                    pdf.cell(col_w, lh, col[r])
        if lines:
            pdf.add_page()
            top = pdf.get_y() + lh
            rows = int((pdf.h - pdf.b_margin - top) / lh)


def reportlab_pdf(case) -> bytes:
    """ReportLab platypus (shapes with uharfbuzz since 4.x): frames for the columns, onPage for the
    running header and footer, a GRID table of Paragraph cells. ReportLab wraps at spaces only, so
    a zero-width space follows every tsheg, as Tibetan users of it do. (With Noto Serif Tibetan it
    draws vowels over the following letter; its text layer keeps the right order.)"""
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.pagesizes import A4, A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate, Paragraph, Table, TableStyle

    font = f"tib-{case.font}"
    pdfmetrics.registerFont(TTFont(font, FONTS[case.font]))
    (w, h), margin = (A4 if case.layout == "columns" else A5), 45
    out = io.BytesIO()
    doc = BaseDocTemplate(out, pagesize=(w, h), leftMargin=margin, rightMargin=margin, topMargin=60, bottomMargin=60)
    if case.layout == "columns":
        cw = (w - 2 * margin - 20) / 2
        frames = [Frame(margin, 60, cw, h - 120, id="l"), Frame(margin + cw + 20, 60, cw, h - 120, id="r")]
    else:
        frames = [Frame(margin, 60, w - 2 * margin, h - 120)]

    def on_page(canvas, d) -> None:
        canvas.setFont(font, 9)
        canvas.drawCentredString(w / 2, h - 38, case.header)
        canvas.drawCentredString(w / 2, 32, f"{FOOTER}{d.page}")

    doc.addPageTemplates([PageTemplate(frames=frames, onPage=on_page)])
    size = 12 if case.layout != "columns" else 11
    body = ParagraphStyle("b", fontName=font, fontSize=size, leading=size * 1.7, alignment=TA_JUSTIFY)
    head = ParagraphStyle("h", fontName=font, fontSize=15, leading=24)
    cell = ParagraphStyle("c", fontName=font, fontSize=size, leading=size * 1.6)

    def para(text: str, style) -> Paragraph:
        return Paragraph(html.escape(text).replace("\u0f0b", "\u0f0b\u200b"), style)

    story = []
    for kind, content in case.blocks:
        if kind == "table":
            table = Table(
                [[para(c, cell) for c in row] for row in content],
                colWidths=[(w - 2 * margin) * f for f in (0.2, 0.4, 0.4)],
            )
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "black"), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(table)
        else:
            story.append(para(content, head if kind == "h" else body))
    doc.build(story)
    return out.getvalue()
