"""Turn one result file into its report folder: CSV, Markdown, LaTeX, plots and one HTML page."""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path

import pandas as pd

from reports import plots, tables
from reports.atomic import write_bytes_atomic, write_text_atomic
from reports.format import DEFAULT_RUNS_DIR, RESULTS_FILE_NAME
from reports.load import load_results

PLOTS = ("time_per_step", "learning_curves", "accuracy_vs_time", "peak_memory")


def footnote(data: dict, frame: pd.DataFrame) -> dict:
    """Everything a citation of this run needs, as labelled strings."""
    plan, env = data["plan"], data["environment"]
    commit = env.get("commit") or {}
    cpu = env.get("cpu_model") or env.get("machine", "unknown CPU")
    gpus = sorted({d for d in frame["device_name"].dropna() if d != "cpu"})
    versions = sorted({v for v in frame["framework_version"].dropna()} |
                      {v for v in frame["backend_version"].dropna()})
    fair = frame[frame["status"] == "ok"]
    fairness = {column: ", ".join(sorted(set(fair[column].dropna()))) for column in
                ("convention", "initial_weights", "adam_epsilon", "adam_epsilon_placement",
                 "loss_clip", "precision")}
    commit_text = (commit.get("id") or "unknown")[:12] + (" (uncommitted changes)"
                                                          if commit.get("dirty") else "")
    started = data.get("started") or ""
    version = data.get("converted_from_format_version") or data["format_version"]
    return {
        "date": started[:19].replace("T", " ") + " UTC",
        "command": env.get("command", ""),
        "seeds": ", ".join(str(s) for s in plan["seeds"]),
        "epochs": str(plan["epochs"]),
        "data": f"{plan['n_train']} training and {plan['n_test']} test samples, "
                f"Bayes accuracy {fair['bayes_accuracy'].iloc[0]:.2f}" if len(fair) else "",
        "hardware": f"{cpu}, {env.get('cpu_cores')} cores" + (f"; GPU {', '.join(gpus)}"
                                                               if gpus else ""),
        "threads": f"{plan['threads']} per framework",
        "os": env.get("os", ""),
        "python": env.get("python", ""),
        "frameworks": "; ".join(versions),
        "commit": commit_text,
        "fairness": "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in fairness.items() if v),
        "format": f"sidebyside result format {version}" + (
            f", pytest-benchmark {data['pytest_benchmark_version']}"
            if data.get("pytest_benchmark_version") else ""),
    }


def footnote_text(note: dict) -> str:
    return " · ".join(f"{k}: {v}" for k, v in note.items() if v)


def default_out_dir(data: dict, runs_dir: Path) -> Path:
    """The run's own folder: where the result file lies if it is a run's, else a new one."""
    path = Path(data["_path"])
    if path.name in (RESULTS_FILE_NAME, "benchmark.json"):  # a run folder's own file
        return path.parent
    started = datetime.datetime.fromisoformat(data["started"])
    return runs_dir / started.strftime("%Y%m%d-%H%M%S")


def build_report(result_path, out_dir=None, runs_dir=None) -> Path:
    """Write every report file for ``result_path`` into ``out_dir``; return the folder."""
    data = load_results(result_path)
    out = Path(out_dir) if out_dir else default_out_dir(data, Path(runs_dir or DEFAULT_RUNS_DIR))
    frame = tables.tidy(data)
    curves = tables.learning_curves(data)
    note = footnote(data, frame)
    main = tables.main_tables(frame)
    flags = data.get("flags", [])

    write_text_atomic(out / "results.csv", frame.to_csv(index=False))
    write_text_atomic(out / "learning_curves.csv", curves.to_csv(index=False))
    write_text_atomic(out / "report.md", markdown_report(main, flags, note))
    write_text_atomic(out / "report.tex", latex_report(main, note))
    images = {}
    for name in PLOTS:
        fig = _figure(name, frame, curves, note)
        png, svg = plots.render(fig)
        write_bytes_atomic(out / f"{name}.png", png)
        write_bytes_atomic(out / f"{name}.svg", svg)
        images[name] = png
    write_text_atomic(out / "report.html", html_report(main, flags, note, images))
    return out


def _figure(name, frame, curves, note):
    if name == "time_per_step":
        return plots.time_per_step(frame, note)
    if name == "learning_curves":
        return plots.learning_curves(curves, frame, note)
    if name == "accuracy_vs_time":
        return plots.accuracy_vs_time(curves, frame, note)
    return plots.peak_memory(frame, note)


def markdown_report(main: dict, flags: list[str], note: dict) -> str:
    parts = [f"# sidebyside: SimpleNet in Keras and PyTorch, {note['date']}", ""]
    captions = {
        "Time": "Steady-state training time (epochs after the first); × torch loop is the "
                "ratio to the course's PyTorch loop at the same device and batch size.",
        "Accuracy": "Test accuracy after the last epoch, mean and SD over the seeds; "
                    "to target: median training time until the target accuracy.",
        "Memory": "Peak resident memory while training, above the process after the model "
                  "was built; after import: the process once its framework is imported.",
    }
    for name, table in main.items():
        parts += [f"## {name}", "", captions[name], "", tables.to_markdown(table), ""]
    if flags:
        parts += ["## Flags", ""] + [f"- {flag}" for flag in flags] + [""]
    parts += ["---", "", "Measured with sidebyside. " + footnote_text(note), ""]
    return "\n".join(parts)


def latex_report(main: dict, note: dict) -> str:
    caption = ("SimpleNet steady-state training time. " + footnote_text(note))
    return tables.to_latex(main["Time"], caption) + "\n"


def html_report(main: dict, flags: list[str], note: dict, images: dict[str, bytes]) -> str:
    esc = html.escape
    body = [f"<h1>sidebyside: SimpleNet in Keras and PyTorch</h1><p>{esc(note['date'])}</p>"]
    for name, table in main.items():
        body.append(f"<h2>{esc(name)}</h2>")
        body.append(table.to_html(index=False, escape=True, border=0, classes="results"))
    if flags:
        body.append("<h2>Flags</h2><ul>" + "".join(f"<li>{esc(f)}</li>" for f in flags) +
                    "</ul>")
    for name, png in images.items():
        encoded = base64.b64encode(png).decode("ascii")
        body.append(f'<h2>{esc(name.replace("_", " ").capitalize())}</h2>'
                    f'<img alt="{esc(name)}" src="data:image/png;base64,{encoded}">')
    body.append("<h2>How to cite</h2><dl>" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in note.items() if v) + "</dl>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table.results{border-collapse:collapse;margin-bottom:1em}"
             "table.results td,table.results th{padding:.2em .6em;border-bottom:1px solid #ccc;"
             "text-align:right}table.results td:first-child{text-align:left}"
             "img{max-width:100%}dt{font-weight:bold}")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>sidebyside report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
