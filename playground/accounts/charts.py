"""The usage page's numbers and the geometry of its stacked bar chart, drawn as SVG by the template.

Everything here is plain arithmetic on integers (micro-dollars) and floats (SVG coordinates).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from .money import format_usd
from .selectors import DailySpend

WIDTH = 720
HEIGHT = 260
LEFT = 72  # room for the dollar labels
RIGHT = 8
TOP = 12
BOTTOM = 28  # room for the day labels
SERIES_COLOURS = 8  # accounts.css defines .series-0 ... .series-7
TICKS = 4
DAY_LABEL_EVERY = 5


@dataclass(frozen=True, kw_only=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass(frozen=True, kw_only=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, kw_only=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True, kw_only=True)
class ModelTotal:
    model: str
    series: int
    spend_micros: int
    generations: int


@dataclass(frozen=True, kw_only=True)
class DayTotal:
    day: date
    spend_micros: int
    generations: int


@dataclass(frozen=True, kw_only=True)
class UsageReport:
    first_day: date
    last_day: date
    models: list[ModelTotal]
    days: list[DayTotal]
    total_micros: int
    total_generations: int
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM


def usage_report(*, rows: list[DailySpend], last_day: date, days: int) -> UsageReport:
    """Totals per model and per day over `days` days ending `last_day`, and the chart's shapes."""
    first_day = last_day - timedelta(days=days - 1)
    by_model: dict[str, list[DailySpend]] = defaultdict(list)
    for row in rows:
        by_model[row.model].append(row)
    models = sorted(
        (
            (sum(r.spend_micros for r in spent), sum(r.generations for r in spent), name)
            for name, spent in by_model.items()
        ),
        key=lambda total: (-total[0], total[2]),
    )
    series = {name: index % SERIES_COLOURS for index, (_, _, name) in enumerate(models)}
    per_day: dict[date, list[DailySpend]] = defaultdict(list)
    for row in rows:
        per_day[row.day].append(row)
    day_totals = [
        DayTotal(
            day=day,
            spend_micros=sum(r.spend_micros for r in per_day[day]),
            generations=sum(r.generations for r in per_day[day]),
        )
        for day in (first_day + timedelta(days=offset) for offset in range(days))
    ]
    stacks = [
        sorted((r for r in per_day[total.day] if r.spend_micros > 0), key=lambda r: series[r.model])
        for total in day_totals
    ]
    top = _axis_top(max((sum(r.spend_micros for r in stack) for stack in stacks), default=0))
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / days

    def y_of(micros: int) -> float:
        return round(TOP + plot_height * (1 - micros / top), 2)

    bars = []
    for offset, (total, stack) in enumerate(zip(day_totals, stacks, strict=True)):
        below = 0
        for row in stack:
            bars.append(
                Bar(
                    x=round(LEFT + slot * (offset + 0.15), 2),
                    y=y_of(below + row.spend_micros),
                    width=round(slot * 0.7, 2),
                    height=round(y_of(below) - y_of(below + row.spend_micros), 2),
                    series=series[row.model],
                    title=f"{_day(total.day)} · {row.model}: {format_usd(row.spend_micros)}",
                )
            )
            below += row.spend_micros
    return UsageReport(
        first_day=first_day,
        last_day=last_day,
        models=[
            ModelTotal(model=name, series=series[name], spend_micros=spend, generations=count)
            for spend, count, name in models
        ],
        days=day_totals,
        total_micros=sum(total.spend_micros for total in day_totals),
        total_generations=sum(total.generations for total in day_totals),
        bars=bars,
        ticks=[
            Tick(y=y_of(top * step // TICKS), label=format_usd(top * step // TICKS))
            for step in range(TICKS + 1)
        ],
        day_labels=[
            DayLabel(x=round(LEFT + slot * (offset + 0.5), 2), label=_day(total.day))
            for offset, total in enumerate(day_totals)
            if offset % DAY_LABEL_EVERY == 0 or offset == days - 1
        ],
    )


def _axis_top(largest_micros: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten, times `TICKS`, that is at least the largest."""
    step = max(1, -(-largest_micros // TICKS))
    magnitude = 10 ** (len(str(step)) - 1)
    nice = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= step)
    return nice * TICKS


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"
