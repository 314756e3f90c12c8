"""The page of ``gmgan explore``: Gradio controls wired to :class:`gmgan.explore.RunView` (which does the work).

Gradio is an optional extra (``pip install 'gmgan[explore]'``): importing this module without it raises a
:class:`gmgan.errors.ConfigError` that says so. Errors a user can fix (a component the run does not have, an
upload that is not an image) are shown in the page as one message; the server goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gmgan.errors import ConfigError, GmganError
from gmgan.explore import ANY, RunView, check_port

# grids of small images are enlarged by the browser: keep their pixels sharp; no Share button (it would upload the
# image to a hosting service, and a local tool sends nothing anywhere)
CSS = (".gradio-container img { image-rendering: pixelated; } "
       ".gradio-container button[aria-label='Share'] { display: none; } "
       ".grid-out img { width: 100%; height: 100%; object-fit: contain; }")  # grids fill their box
# an output grid: lossless PNG, the very pixels gmgan sample writes
PICTURE: dict[str, Any] = {"format": "png", "type": "numpy", "buttons": ["download", "fullscreen"],
                           "interactive": False, "elem_classes": ["grid-out"]}
MAX_UPLOAD = "50mb"  # an upload is one image: Gradio refuses larger files before they reach the disk
INSTALL_HINT = "pip install 'gmgan[explore]'  (or: pip install gradio)"


def _gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local tool
    try:
        import gradio as gr
    except ImportError:
        raise ConfigError(f"gmgan explore needs the optional web interface, Gradio, which is not installed. "
                          f"Install it with: {INSTALL_HINT}") from None
    return gr


def _shown(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Handlers raise gmgan's errors as Gradio's, which the page shows as a message (the server goes on)."""
    import functools

    gr = _gradio()

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except GmganError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return wrapper


def sample_command(view: RunView, choice: str | None, scale: float, n: int, seed: int) -> str:
    """The ``gmgan sample`` line that writes the same grid as the Sample tab."""
    component, class_name = view.parse_choice(choice)
    pick = f" --component {component}" if component is not None else (
        f" --class {class_name}" if class_name is not None else "")
    return f"`gmgan sample {view.path} --n {int(n)} --scale {float(scale):g} --seed {int(seed)}{pick}`"


def _sweep_markdown(view: RunView) -> str:
    _, rows = view.sweep_curve()
    if not rows:
        return (f"No quality/diversity curve yet: `gmgan sweep {view.path}` scores every scale (FID, precision, "
                "recall, q, d) and the curve appears here.")
    cols = [c for c in ("scale", "q", "d", "fid", "precision", "recall") if any(r.get(c) for r in rows)]
    mine = [r for r in rows if Path(r.get("run", "")).name == view.path.name] or rows
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in mine:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "From `gmgan sweep` (sweep.csv):\n\n" + "\n".join(lines)


def _fmt(v: str) -> str:
    try:
        return f"{float(v):.3g}"
    except ValueError:
        return v


def _identification_markdown(ident: Any) -> str:
    lines = []
    for head, probs in ident.heads.items():
        top = sorted(probs.items(), key=lambda kv: kv[1], reverse=True)[:3]
        lines.append(f"- **{head}**: " + ", ".join(f"{k} ({v:.2f})" for k, v in top))
    d = ident.details
    if "inversion_mse" in d:
        lines.append(f"- inversion: pixel error {d['inversion_mse']:.4f} (values in [-1, 1])")
    if "encoder_mse" in d:
        lines.append(f"- encoder reconstruction: pixel error {d['encoder_mse']:.4f}")
    if "bn" in d:
        lines.append(f"- heads read with {d['bn']}")
    for note in ident.notes:
        lines.append(f"- your image was {note}")
    pictures = "your image" + "".join(
        f", {h.split(' ->')[0]} reconstruction" for h in ident.heads if h.startswith(("encoder", "inversion")))
    lines.append(f"- pictures, left to right: {pictures}")
    return "\n".join(lines)


def build_app(views: dict[str, RunView]) -> Any:
    """The Blocks app for the loaded runs (the first is shown first)."""
    gr = _gradio()
    names = list(views)
    first = views[names[0]]

    def view_of(name: str | None) -> RunView:
        if name not in views:
            raise ConfigError(f"no run named {name!r} is loaded; pick one from the Run list.")
        return views[name]

    def components_of(v: RunView) -> list[str]:
        return [str(k) for k in range(v.K)] if v.is_mixture else []

    def clustering_choices(v: RunView) -> list[tuple[str, str]]:
        return [(str(p.relative_to(v.path)), str(p)) for p in v.clusterings()]

    # the grids Gradio writes to its cache are deleted after 15 minutes (checked every 5): a long session stays small
    with gr.Blocks(title="gmgan explore", analytics_enabled=False, delete_cache=(300, 900)) as app:
        gr.Markdown("# gmgan explore")
        with gr.Row():
            run = gr.Dropdown(names, value=names[0], label="Run", elem_id="run", scale=1)
            info = gr.Markdown(first.describe(), elem_id="run-info")
        with gr.Tabs():
            # -------------------------------------------------------------------------------- Sample
            with gr.Tab("Sample", id="sample"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        s_choice = gr.Dropdown(first.choices(), value=ANY, label="Draw from", elem_id="sample-choice")
                        s_scale = gr.Slider(0.05, 3.0, value=1.0, step=0.05, label="Sampling scale (x covariance)",
                                            elem_id="sample-scale")
                        s_n = gr.Slider(1, 100, value=100, step=1, label="Images", elem_id="sample-n")
                        s_seed = gr.Number(0, precision=0, label="Seed", elem_id="sample-seed")
                        s_cmd = gr.Markdown(sample_command(first, ANY, 1.0, 100, 0), elem_id="sample-command")
                    with gr.Column(scale=3):
                        s_img = gr.Image(first.sample(ANY, 1.0, 100, 0) if first.is_image else None, **PICTURE,
                                         label="Samples", elem_id="sample-image", height=560)

                @_shown
                def do_sample(name: str, choice: str, scale: float, n: int, seed: int) -> tuple[Any, str]:
                    v = view_of(name)
                    return v.sample(choice, scale, n, seed), sample_command(v, choice, scale, n, seed)

                for control in (s_choice, s_scale, s_n, s_seed):
                    control.change(do_sample, [run, s_choice, s_scale, s_n, s_seed], [s_img, s_cmd],
                                   trigger_mode="always_last", show_progress="hidden")

            # -------------------------------------------------------------------------------- Trade-off
            with gr.Tab("Trade-off", id="tradeoff"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        t_choice = gr.Dropdown(first.choices(), value=ANY, label="Draw from", elem_id="tradeoff-choice")
                        t_per = gr.Slider(1, 16, value=10, step=1, label="Images per scale", elem_id="tradeoff-per")
                        t_seed = gr.Number(0, precision=0, label="Seed", elem_id="tradeoff-seed")
                        gr.Markdown("One row per sampling scale (0.25, 0.5, 0.75, 1, 1.5, 2, 3 x the covariance), the "
                                    "same noise in every row: small scales give each mode's typical image (quality), "
                                    "large ones its variety (diversity).")
                    with gr.Column(scale=3):
                        t_img = gr.Image(**PICTURE, label="Sigma sweep", elem_id="tradeoff-image", height=560)
                with gr.Row():
                    t_curve = gr.Image(str(first.sweep_curve()[0]) if first.sweep_curve()[0] else None,
                                       label="Quality / diversity (gmgan sweep)", interactive=False, type="filepath",
                                       buttons=["download", "fullscreen"],
                                       elem_id="tradeoff-curve")
                    t_table = gr.Markdown(_sweep_markdown(first), elem_id="tradeoff-table")

                @_shown
                def do_tradeoff(name: str, choice: str, per: int, seed: int) -> Any:
                    return view_of(name).tradeoff(choice, int(per), int(seed))

                for control in (t_choice, t_per, t_seed):
                    control.change(do_tradeoff, [run, t_choice, t_per, t_seed], t_img, trigger_mode="always_last",
                                   show_progress="hidden")

            # -------------------------------------------------------------------------------- Interpolate
            with gr.Tab("Interpolate", id="interpolate"):
                comps = components_of(first)
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        i_a = gr.Dropdown(comps, value=comps[0] if comps else None, label="From component",
                                          elem_id="interp-a")
                        i_b = gr.Dropdown(comps, value=comps[1] if len(comps) > 1 else None, label="To component",
                                          elem_id="interp-b")
                        i_c = gr.Dropdown(["none", *comps], value="none", label="Third component (a triangle)",
                                          elem_id="interp-c")
                        i_len = gr.Slider(2, 16, value=10, step=1, label="Images along a path", elem_id="interp-len")
                        i_rows = gr.Slider(1, 6, value=3, step=1, label="Strips (2 components)", elem_id="interp-rows")
                        i_seed = gr.Number(0, precision=0, label="Seed", elem_id="interp-seed")
                        i_go = gr.Button("Interpolate", elem_id="interp-go")
                    with gr.Column(scale=3):
                        i_img = gr.Image(**PICTURE, label="Path", elem_id="interp-image", height=560)

                @_shown
                def do_interpolate(name: str, a: str, b: str, c: str, length: int, rows: int, seed: int) -> Any:
                    if a is None or b is None:
                        raise ConfigError("pick two components to interpolate between.")
                    third = None if c in (None, "none") else int(c)
                    return view_of(name).interpolate(int(a), int(b), third, int(length), int(rows), int(seed))

                inputs = [run, i_a, i_b, i_c, i_len, i_rows, i_seed]
                i_go.click(do_interpolate, inputs, i_img)
                for control in (i_a, i_b, i_c, i_len, i_rows, i_seed):
                    control.change(do_interpolate, inputs, i_img, trigger_mode="always_last", show_progress="hidden")

            # -------------------------------------------------------------------------------- Your image
            with gr.Tab("Your image", id="identify"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        y_file = gr.File(label="Upload an image (any size; converted to the run's size and colour)",
                                         type="filepath", elem_id="upload")
                        y_label = gr.Label(num_top_classes=5, label="Most likely component", elem_id="identify-label")
                    with gr.Column(scale=2):
                        y_img = gr.Image(**PICTURE, label="Your image and its reconstructions",
                                         elem_id="identify-image")
                        y_text = gr.Markdown(elem_id="identify-text")

                @_shown
                def do_identify(name: str, path: str | None) -> tuple[Any, Any, str]:
                    if not path:
                        return None, None, ""
                    ident = view_of(name).identify(path)
                    head, _, _ = ident.best()
                    return ({k: round(v, 4) for k, v in ident.heads[head].items()}, ident.picture,
                            f"**{head}**\n\n" + _identification_markdown(ident))

                y_file.change(do_identify, [run, y_file], [y_label, y_img, y_text])

            # -------------------------------------------------------------------------------- Clusters
            with gr.Tab("Clusters", id="clusters"):
                cl = clustering_choices(first)
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        c_folder = gr.Dropdown(cl, value=cl[0][1] if cl else None, label="Clustering (gmgan cluster)",
                                               elem_id="clusters-folder")
                        c_k = gr.Dropdown([], label="Cluster (its size)", elem_id="clusters-k")
                        c_n = gr.Slider(10, 100, value=50, step=10, label="Members shown", elem_id="clusters-n")
                        c_sizes = gr.Markdown(elem_id="clusters-sizes")
                    with gr.Column(scale=3):
                        c_img = gr.Image(**PICTURE, label="Most confident members", elem_id="clusters-image",
                                         height=560)
                        c_line = gr.Markdown(elem_id="clusters-line")

                def do_members(name: str, folder: str | None, k: str | None, n: int) -> tuple[Any, str, str]:
                    """Members of cluster k; a problem (data not at hand, an empty cluster) is the tab's text."""
                    try:
                        v = view_of(name)
                        if not folder:
                            return None, (f"No clustering of this run yet: `gmgan cluster {v.path}` writes one, "
                                          "and its clusters appear here."), ""
                        sizes = v.cluster_sizes(folder)
                        size_text = "sizes: " + ", ".join(f"{c}: {s:,}" for c, s in sizes.items())
                        if k is None:
                            return None, "pick a cluster", size_text
                        picture, line = v.cluster_members(folder, int(k), int(n))
                        return picture, line, size_text
                    except GmganError as exc:
                        return None, f"**{exc}**", ""

                def open_clustering(name: str, folder: str | None, n: int) -> tuple[Any, ...]:
                    """A clustering picked: its non-empty clusters in the Cluster list, the largest one shown."""
                    choices: list[tuple[str, str]] = []
                    k = None
                    try:
                        sizes = view_of(name).cluster_sizes(folder) if folder else {}
                    except GmganError:  # do_members below says what is wrong
                        sizes = {}
                    if sizes:
                        choices = [(f"{c} ({s:,} images)", str(c)) for c, s in sizes.items() if s]
                        k = str(max(sizes, key=lambda c: sizes[c]))
                    return (gr.update(choices=choices, value=k), *do_members(name, folder, k, n))

                c_folder.change(open_clustering, [run, c_folder, c_n], [c_k, c_img, c_line, c_sizes])
                for control in (c_k, c_n):
                    control.change(do_members, [run, c_folder, c_k, c_n], [c_img, c_line, c_sizes],
                                   trigger_mode="always_last", show_progress="hidden")

            # -------------------------------------------------------------------------------- Compare
            with gr.Tab("Compare", id="compare"):
                if len(names) < 2:
                    gr.Markdown("Start explore with two runs to compare them side by side: "
                                "`gmgan explore RUN_A RUN_B`.")
                with gr.Row():
                    with gr.Column(scale=1, min_width=260):
                        m_a = gr.Dropdown(names, value=names[0], label="Left run", elem_id="compare-a")
                        m_b = gr.Dropdown(names, value=names[min(1, len(names) - 1)], label="Right run",
                                          elem_id="compare-b")
                        m_comp = gr.Number(-1, precision=0, label="Component (-1: any)", elem_id="compare-component")
                        m_scale = gr.Slider(0.05, 3.0, value=1.0, step=0.05, label="Sampling scale",
                                            elem_id="compare-scale")
                        m_n = gr.Slider(1, 100, value=50, step=1, label="Images", elem_id="compare-n")
                        m_seed = gr.Number(0, precision=0, label="Seed", elem_id="compare-seed")
                    with gr.Column(scale=2):
                        m_left = gr.Image(**PICTURE, label="Left", elem_id="compare-left", height=420)
                        m_left_note = gr.Markdown()
                    with gr.Column(scale=2):
                        m_right = gr.Image(**PICTURE, label="Right", elem_id="compare-right", height=420)
                        m_right_note = gr.Markdown()

                def side(name: str, comp: float, scale: float, n: int, seed: int) -> tuple[Any, str]:
                    """One side's grid, or its message (the other side still shows)."""
                    try:
                        v = view_of(name)
                        choice = ANY if comp is None or int(comp) < 0 else f"component {int(comp)}"
                        return v.sample(choice, scale, n, seed), sample_command(v, choice, scale, n, seed)
                    except GmganError as exc:
                        return None, f"{name}: {exc}"

                def do_compare(a: str, b: str, comp: float, scale: float, n: int, seed: int) -> tuple[Any, ...]:
                    return (*side(a, comp, scale, n, seed), *side(b, comp, scale, n, seed))

                m_inputs = [m_a, m_b, m_comp, m_scale, m_n, m_seed]
                for control in m_inputs:
                    control.change(do_compare, m_inputs, [m_left, m_left_note, m_right, m_right_note],
                                   trigger_mode="always_last", show_progress="hidden")

        # ---------------------------------------------------------------------------------------- run switch
        @_shown
        def switch(name: str) -> tuple[Any, ...]:
            v = view_of(name)
            comps = components_of(v)
            cl = clustering_choices(v)
            png, _ = v.sweep_curve()
            return (
                v.describe(),
                gr.update(choices=v.choices(), value=ANY), v.sample(ANY, 1.0, 100, 0) if v.is_image else None,
                sample_command(v, ANY, 1.0, 100, 0),
                gr.update(choices=v.choices(), value=ANY), str(png) if png else None, _sweep_markdown(v),
                gr.update(choices=comps, value=comps[0] if comps else None),
                gr.update(choices=comps, value=comps[1] if len(comps) > 1 else None),
                gr.update(choices=["none", *comps], value="none"),
                gr.update(choices=cl, value=cl[0][1] if cl else None),
                *open_clustering(name, cl[0][1] if cl else None, 50),
                None, None, "",
            )

        run.change(switch, run, [info, s_choice, s_img, s_cmd, t_choice, t_curve, t_table, i_a, i_b, i_c,
                                 c_folder, c_k, c_img, c_line, c_sizes, y_file, y_label, y_text])
        app.load(do_tradeoff, [run, t_choice, t_per, t_seed], t_img)
        app.load(do_interpolate, [run, i_a, i_b, i_c, i_len, i_rows, i_seed], i_img)
        app.load(open_clustering, [run, c_folder, c_n], [c_k, c_img, c_line, c_sizes])
        app.load(do_compare, m_inputs, [m_left, m_left_note, m_right, m_right_note])
    return app


def load_views(run_dirs: list[str], device: str = "cpu", data_dir: str | None = None) -> dict[str, RunView]:
    """One RunView per run folder, named by the folder (parent/name where two share a name)."""
    views: dict[str, RunView] = {}
    for d in run_dirs:
        v = RunView(d, device, data_dir)
        name = v.name if v.name not in views else f"{Path(d).parent.name}/{v.name}"
        if name in views:
            raise ConfigError(f"{d} is given twice; give each run once.")
        views[name] = v
    return views


def serve(run_dirs: list[str], host: str = "127.0.0.1", port: int = 7860, device: str = "cpu",
          data_dir: str | None = None, block: bool = True, quiet: bool = False) -> Any:
    """Start the page for ``run_dirs`` on host:port; print its address; serve until interrupted (``block``) or
    return the running app (tests: ``app.close()`` stops it)."""
    from gmgan.explore import free_port

    gr = _gradio()
    check_port(host, port)
    port = port or free_port(host)
    views = load_views(run_dirs, device, data_dir)
    app = build_app(views)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, show_error=True,
               ssr_mode=False, theme=theme, footer_links=[], css=CSS, max_file_size=MAX_UPLOAD)
    url = app.local_url or f"http://{host}:{port}/"
    if not quiet:
        print(f"gmgan explore: {', '.join(views)} at {url}  (Ctrl+C stops it)", flush=True)
    if block:
        try:
            app.block_thread()
        finally:
            app.close()
    return app
