"""The dashboard's inline SVG line charts: structure, layout, accessibility, escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from itertools import pairwise

import pytest

from basewatch.service.dashboard.charts import (
    CHAR_WIDTH,
    DARK_BACKGROUND,
    LIGHT_BACKGROUND,
    PALETTE_DARK,
    PALETTE_LIGHT,
    Series,
    contrast_ratio,
    line_chart,
)

NS = "{http://www.w3.org/2000/svg}"
START = date(2024, 12, 1)
DASH = "\u2013"  # en dash: no value on that date
HOSTILE = "</title><script>alert(1)</script>"


def daily(n: int, f: int = 1, start: date = START) -> list[tuple[date, int]]:
    return [(start + timedelta(days=i), i * f) for i in range(n)]


def svg_of(fragment: str) -> ET.Element:
    begin, end = fragment.index("<svg"), fragment.index("</svg>") + len("</svg>")
    return ET.fromstring(fragment[begin:end])


def with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in e.get("class", "").split()]


def view_box(root: ET.Element) -> tuple[float, float]:
    _, _, w, h = (float(v) for v in root.get("viewBox", "").split())
    return w, h


def y_ticks(root: ET.Element) -> list[int]:
    return [int((e.text or "").replace(",", "")) for e in with_class(root, "y-tick")]


def figure_of(fragment: str) -> ET.Element:
    """The whole fragment parsed as XML (it is well-formed, the table included)."""
    return ET.fromstring(fragment)


def test_one_circle_per_data_point_with_its_values() -> None:
    a = Series("critical", daily(5, 3))
    b = Series("high", [(START, 7), (START + timedelta(days=3), 1)])
    root = svg_of(line_chart([a, b], title="Findings"))
    points = with_class(root, "point")
    assert len(points) == 7
    got = {(p.get("data-series"), p.get("data-x"), p.get("data-y")) for p in points}
    want = {(s.name, d.isoformat(), str(y)) for s in (a, b) for d, y in s.points}
    assert got == want
    tooltip = next(p for p in points if p.get("data-series") == "high" and p.get("data-y") == "7")
    assert tooltip.findtext(f"{NS}title") == "high: 7 on 2024-12-01"
    lines = root.findall(f".//{NS}polyline")
    assert [line.get("class") for line in lines] == ["series series-0", "series series-1"]
    assert len(lines[0].get("points", "").split()) == 5


def test_points_are_inside_the_plot_and_higher_values_are_higher() -> None:
    root = svg_of(line_chart([Series("s", daily(10, 5))], title="t"))
    width, height = view_box(root)
    points = with_class(root, "point")
    xs = [float(p.get("cx", "")) for p in points]
    ys = [float(p.get("cy", "")) for p in points]
    assert all(0 < x < width for x in xs)
    assert all(0 < y < height for y in ys)
    assert xs == sorted(xs)
    assert ys == sorted(ys, reverse=True)  # SVG's y grows downwards


@pytest.mark.parametrize("peak", [1, 2, 3, 7, 10, 12, 99, 100, 101, 999, 4321, 123456, 10**6])
def test_y_ticks_are_nice(peak: int) -> None:
    root = svg_of(line_chart([Series("s", [(START, 0), (START + timedelta(1), peak)])], title="t"))
    ticks = y_ticks(root)
    assert ticks[0] == 0
    assert ticks[-1] >= peak
    steps = {b - a for a, b in pairwise(ticks)}
    assert len(steps) == 1
    (step,) = steps
    assert re.fullmatch(r"[125]0*", str(step)), step
    assert 2 <= len(ticks) <= 7
    assert ticks[-1] - step < peak  # no tick wasted above the data


def test_all_zero_values_give_an_axis_from_0_to_1() -> None:
    root = svg_of(line_chart([Series("s", daily(4, 0))], title="t"))
    assert y_ticks(root) == [0, 1]
    assert len(with_class(root, "point")) == 4


def test_large_values_have_thousands_separators() -> None:
    fragment = line_chart([Series("s", [(START, 123456)])], title="t")
    labels = [e.text for e in with_class(svg_of(fragment), "y-tick")]
    assert labels[-1] is not None
    assert "," in labels[-1]
    assert y_ticks(svg_of(fragment))[-1] >= 123456
    assert "<td>123,456</td>" in fragment
    assert "s: 123,456 on 2024-12-01" in fragment


@pytest.mark.parametrize(("days", "width"), [(90, 720), (365, 720), (30, 320), (400, 1200)])
def test_x_labels_do_not_overlap(days: int, width: int) -> None:
    root = svg_of(line_chart([Series("s", daily(days))], title="t", width=width))
    labels = with_class(root, "x-tick")
    assert len(labels) >= 2
    spans = sorted(
        (float(e.get("x", "")) - len(e.text or "") * CHAR_WIDTH / 2,
         float(e.get("x", "")) + len(e.text or "") * CHAR_WIDTH / 2)
        for e in labels
    )  # fmt: skip
    for (_, right), (left, _) in pairwise(spans):
        assert right <= left, (right, left)
    assert spans[0][0] >= 0
    assert spans[-1][1] <= view_box(root)[0]
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}( \d{4})?", labels[0].text or "")


def test_x_labels_say_the_year_only_when_the_range_spans_two() -> None:
    first = svg_of(line_chart([Series("s", daily(10))], title="t"))
    assert with_class(first, "x-tick")[0].text == "Dec 1"
    second = svg_of(line_chart([Series("s", daily(60))], title="t"))
    assert with_class(second, "x-tick")[0].text == "Dec 1 2024"


def test_legend_wraps_inside_the_width() -> None:
    series = [Series(f"registry.example/team-{i}/base-image:bookworm", daily(3)) for i in range(8)]
    root = svg_of(line_chart(series, title="t"))
    width, height = view_box(root)
    items = with_class(root, "legend-item")
    assert len(items) == 8
    rows: dict[float, list[tuple[float, float]]] = {}
    for item in items:
        line = item.find(f".//{NS}line")
        text = item.find(f"{NS}text")
        assert line is not None
        assert text is not None
        left = float(line.get("x1", ""))
        right = float(text.get("x", "")) + len(text.text or "") * CHAR_WIDTH
        assert 0 <= left < right <= width
        assert float(text.get("y", "")) < height
        rows.setdefault(float(text.get("y", "")), []).append((left, right))
        assert item.findtext(f"{NS}title") == series[items.index(item)].name
    assert len(rows) > 1  # it wrapped
    for spans in rows.values():
        spans.sort()
        for (_, right), (left, _) in pairwise(spans):
            assert right <= left


def test_a_name_too_long_for_a_legend_row_is_cut_and_kept_in_the_tooltip() -> None:
    name = "x" * 300
    root = svg_of(line_chart([Series(name, daily(2))], title="t", width=400))
    (item,) = with_class(root, "legend-item")
    text = item.find(f"{NS}text")
    assert text is not None
    assert (text.text or "").endswith("…")
    assert float(text.get("x", "")) + len(text.text or "") * CHAR_WIDTH <= 400
    assert item.findtext(f"{NS}title") == name


def test_series_differ_by_dash_pattern_not_only_colour() -> None:
    root = svg_of(line_chart([Series(f"s{i}", daily(3)) for i in range(8)], title="t"))
    dashes = [
        item.find(f".//{NS}line").get("stroke-dasharray")  # type: ignore[union-attr]
        for item in with_class(root, "legend-item")
    ]
    assert len(set(dashes)) == 8
    lines = root.findall(f".//{NS}polyline")
    assert [line.get("stroke-dasharray", "none") for line in lines] == dashes


def test_table_has_a_row_per_date_and_dashes_for_missing_values() -> None:
    a = Series("a", [(START, 1), (START + timedelta(days=2), 3)])
    b = Series("b", [(START + timedelta(days=1), 1000), (START + timedelta(days=2), 4)])
    figure = figure_of(line_chart([b, a], title="Trend"))
    details = figure.find("details")
    assert details is not None
    assert details.findtext("summary") == "The numbers behind “Trend”"
    table = details.find("table")
    assert table is not None
    assert table.findtext("caption") == "Trend"
    header = table.findall("thead/tr/th")
    assert [(th.get("scope"), th.text) for th in header] == [
        ("col", "Date"),
        ("col", "b"),
        ("col", "a"),
    ]
    rows = table.findall("tbody/tr")
    assert [(r.find("th").get("scope"), r.findtext("th")) for r in rows] == [  # type: ignore[union-attr]
        ("row", "2024-12-01"),
        ("row", "2024-12-02"),
        ("row", "2024-12-03"),
    ]
    assert [[td.text for td in r.findall("td")] for r in rows] == [
        [DASH, "1"],
        ["1,000", DASH],
        ["4", "3"],
    ]


def test_hostile_text_comes_out_inert() -> None:
    fragment = line_chart(
        [Series(HOSTILE, daily(3))],
        title=HOSTILE,
        description=f'"{HOSTILE}&',
        y_label=HOSTILE,
    )
    assert "<script" not in fragment
    figure = figure_of(fragment)
    assert not [e for e in figure.iter() if e.tag.rsplit("}", 1)[-1] == "script"]
    root = svg_of(fragment)
    assert root.findtext(f"{NS}title") == HOSTILE
    assert root.findtext(f"{NS}desc") == f'"{HOSTILE}&'
    assert {p.get("data-series") for p in with_class(root, "point")} == {HOSTILE}


def test_control_characters_are_dropped_so_the_svg_stays_well_formed() -> None:
    root = svg_of(line_chart([Series("a\x00b\x1b", daily(2))], title="t\x07"))
    assert root.findtext(f"{NS}title") == "t"
    assert {p.get("data-series") for p in with_class(root, "point")} == {"ab"}


@pytest.mark.parametrize("series", [[], [Series("a", []), Series("b", [])]])
def test_no_data_yet(series: list[Series]) -> None:
    fragment = line_chart(series, title="Findings <over time>")
    assert fragment.startswith('<figure class="chart">')
    assert "No data yet" in fragment
    assert "Findings &lt;over time&gt;" in fragment
    assert "<circle" not in fragment
    assert "<svg" not in fragment
    figure_of(fragment)


def test_a_single_point_is_drawn_as_a_point() -> None:
    fragment = line_chart([Series("only", [(START, 5)])], title="t")
    root = svg_of(fragment)
    (point,) = with_class(root, "point")
    assert (point.get("data-x"), point.get("data-y")) == ("2024-12-01", "5")
    assert root.findall(f".//{NS}polyline") == []
    width, _ = view_box(root)
    assert 0 < float(point.get("cx", "")) < width
    assert [e.text for e in with_class(root, "x-tick")] == ["Dec 1"]
    assert fragment.count("<tr>") == 2


def test_an_empty_series_next_to_others_is_in_legend_and_table_only() -> None:
    fragment = line_chart([Series("a", daily(2)), Series("none", [])], title="t")
    root = svg_of(fragment)
    assert len(with_class(root, "point")) == 2
    assert len(with_class(root, "legend-item")) == 2
    assert fragment.count(f"<td>{DASH}</td>") == 2


def test_ids_are_unique_and_referenced() -> None:
    one = line_chart([Series("a", daily(3))], title="Findings")
    two = line_chart([Series("a", daily(4))], title="Findings")
    three = line_chart([Series("a", daily(3))], title="Images")
    ids: list[str] = []
    for fragment in (one, two, three):
        root = svg_of(fragment)
        own = [e.get("id", "") for e in root.iter() if e.get("id")]
        assert sorted(root.get("aria-labelledby", "").split()) == sorted(own)
        assert root.get("role") == "img"
        assert all(re.fullmatch(r"[a-z][a-z0-9-]*", i) for i in own)
        ids += own
    assert len(ids) == len(set(ids)) == 6


def test_output_is_deterministic() -> None:
    def make() -> str:
        return line_chart(
            [Series("a", daily(30, 2)), Series("b", daily(10, 7))], title="t", y_label="findings"
        )

    assert make() == make()


def test_description_defaults_to_a_summary() -> None:
    root = svg_of(line_chart([Series("a", daily(3, 4))], title="t"))
    desc = root.findtext(f"{NS}desc") or ""
    assert "2024-12-01" in desc
    assert "2024-12-03" in desc
    assert "8" in desc


def test_y_label_and_axis_text_use_current_colour() -> None:
    root = svg_of(line_chart([Series("a", daily(3))], title="t", y_label="open findings"))
    assert [e.text for e in with_class(root, "y-label")] == ["open findings"]
    assert root.get("fill") == "currentColor"
    assert "#" not in "".join(e.get("stroke", "") + e.get("fill", "") for e in root.iter())


def test_colours_come_from_custom_properties_with_light_and_dark_fallbacks() -> None:
    root = svg_of(line_chart([Series(f"s{i}", daily(2)) for i in range(10)], title="t"))
    style = root.findtext(f"{NS}style") or ""
    light, dark = style.split("@media (prefers-color-scheme: dark)")
    for i, (lc, dc) in enumerate(zip(PALETTE_LIGHT, PALETTE_DARK, strict=True)):
        assert f".series-{i}{{color:var(--chart-{i},{lc})}}" in light
        assert f".series-{i}{{color:var(--chart-{i},{dc})}}" in dark
    classes = [p.get("class") for p in root.findall(f".//{NS}polyline")]
    assert classes[8] == "series series-0"  # colours (and dashes) cycle after the palette


@pytest.mark.parametrize(
    ("palette", "background"),
    [(PALETTE_LIGHT, LIGHT_BACKGROUND), (PALETTE_DARK, DARK_BACKGROUND)],
)
def test_palette_contrast(palette: tuple[str, ...], background: str) -> None:
    assert len(palette) >= 6
    assert len(set(palette)) == len(palette)
    for colour in palette:
        assert contrast_ratio(colour, background) >= 3.0, colour


def test_contrast_ratio() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#000") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    with pytest.raises(ValueError, match="hex"):
        contrast_ratio("red", "#ffffff")


def test_series_rejects_negative_counts_and_repeated_dates() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Series("a", [(START, -1)])
    with pytest.raises(ValueError, match="twice"):
        Series("a", [(START, 1), (START, 2)])
