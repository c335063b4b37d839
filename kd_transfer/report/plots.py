"""Plots of the transfer report (matplotlib, Agg canvas; no display needed).

* :func:`plot_gain`: change of Top-1 against the change of one transfer metric, one point per
  row, with the 95 % intervals of both deltas (Welch) as error bars;
* :func:`plot_sweep`: heatmaps of Top-1, ECE and the transfer metric(s) over a two-parameter
  sweep (means over runs).
"""
from typing import Sequence

from .cells import Cell
from .columns import COLUMN_BY_KEY, TRANSFER_COLUMNS, Column
from .summary import Row, Sweep, _fmt_param
from .write import _atomic_write


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def _save_png(fig, path: str) -> None:
    _atomic_write(path, lambda f: fig.savefig(f, format='png', dpi=110), binary=True)


def _err(cell: Cell):
    """Asymmetric error bar ``[[below], [above]]`` of a cell's delta, None without interval."""
    d = cell.comparison
    if d is None or d.ci_low is None:
        return None
    return [[d.delta - d.ci_low], [d.ci_high - d.delta]]


def plot_gain(rows: Sequence[Row], col: Column, path: str) -> bool:
    """Scatter of Top-1 change vs the change of one transfer metric, labelled by method.

    Returns:
        bool: False (nothing written) when no row has both changes.
    """
    points = [(r.delta('top1'), r.delta(col.key), r) for r in rows]
    points = [p for p in points if p[0] is not None and p[1] is not None]
    if not points:
        return False
    fig = _new_figure(7.0, 5.0)
    ax = fig.add_subplot()
    archs = sorted({r.arch for _, _, r in points})
    for i, arch in enumerate(archs):
        mine = [(x, y, r) for x, y, r in points if r.arch == arch]
        ax.scatter([p[0] for p in mine], [p[1] for p in mine], color=f'C{i}', label=arch,
                   zorder=3)
        for x, y, r in mine:  # 95 % intervals of the two deltas (Welch), where defined
            ax.errorbar(x, y, xerr=_err(r.cells['top1']), yerr=_err(r.cells[col.key]),
                        color=f'C{i}', lw=1, capsize=3, zorder=2)
        for x, y, r in mine:
            label = r.method + (f' ({r.setting_text()})' if r.setting else '')
            ax.annotate(label, (x, y), textcoords='offset points', xytext=(4, 4), fontsize=8)
    ax.margins(x=0.3, y=0.15)
    ax.axhline(0, color='grey', lw=0.8, ls='--')
    ax.axvline(0, color='grey', lw=0.8, ls='--')
    ax.set_xlabel('Top-1 change vs baseline (points)')
    ax.set_ylabel(f'{col.label} change vs baseline (points)')
    ax.set_title(f'Classification gain vs {col.label} gain (bars: 95 % intervals)')
    ax.legend(title='backbone', fontsize=8)
    _save_png(fig, path)
    return True


def plot_sweep(sweep: Sweep, path: str) -> None:
    """Heatmaps of Top-1, ECE and the transfer metric(s) over a two-parameter grid."""
    import numpy as np
    keys = ['top1', 'ece'] + [c.key for c in TRANSFER_COLUMNS if c.key in sweep.grids]
    if len(keys) == 2:
        keys.append(None)  # keep the third panel, saying there is no transfer run
    fig = _new_figure(4.2 * len(keys), 3.8)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        grid = sweep.grids.get(key) if key else None
        if grid is None:
            ax.text(0.5, 0.5, 'no run' if key else 'no transfer run', ha='center',
                    va='center', transform=ax.transAxes)
            ax.set_title(COLUMN_BY_KEY[key].label if key else 'transfer')
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        data = np.ma.masked_invalid(np.array([[np.nan if v is None else v for v in line]
                                              for line in grid], dtype=float))
        image = ax.imshow(data, origin='lower', aspect='auto',
                          cmap='viridis_r' if key == 'ece' else 'viridis')
        fig.colorbar(image, ax=ax, shrink=0.85)
        for yi in range(data.shape[0]):
            for xi in range(data.shape[1]):
                if not data.mask[yi, xi]:
                    r, g, b, _ = image.cmap(image.norm(data[yi, xi]))
                    dark_bg = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                    ax.text(xi, yi, f'{data[yi, xi]:.1f}', ha='center', va='center',
                            fontsize=8, color='white' if dark_bg else 'black')
        ax.set_xticks(range(len(sweep.x_values)), [_fmt_param(v) for v in sweep.x_values])
        ax.set_yticks(range(len(sweep.y_values)), [_fmt_param(v) for v in sweep.y_values])
        ax.set_xlabel(sweep.x_param)
        ax.set_ylabel(sweep.y_param)
        ax.set_title(COLUMN_BY_KEY[key].label + ' (%)')
    fig.suptitle(f'{sweep.method}: {sweep.teacher or "?"} -> {sweep.arch}')
    _save_png(fig, path)
