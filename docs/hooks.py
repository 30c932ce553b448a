"""MkDocs hooks (mkdocs.yml `hooks:`): two pages written at build time.

- tutorial.md, from the notebook docs/tutorial.ipynb: markdown cells as they are, code cells as ```python
  blocks, their stored text outputs as ```text blocks and their PNG figures as embedded images. The notebook
  itself is copied beside the page, as a download.
- The command-line reference: `<!-- salarynet:cli -->` in a page becomes every command and option of
  `salarynet`, read from the command line itself (typer's click command), so it cannot fall behind.

tests/test_docs.py reads the tutorial page through `notebook_markdown` too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent
NOTEBOOK = "tutorial.ipynb"
TUTORIAL = "tutorial.md"
CLI_MARKER = "<!-- salarynet:cli -->"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ------------------------------------------------------------------------------------------- the notebook


def _text(value) -> str:
    """A notebook field: a string, or a list of lines."""
    return "".join(value) if isinstance(value, list) else (value or "")


def _fence(body: str, language: str) -> str:
    """A fenced block that no run of backticks inside it can close early."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{body.rstrip()}\n{ticks}"


def _outputs(outputs: list[dict]) -> list[str]:
    parts = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = _text(output.get("text"))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "image/png" in data:
                png = _text(data["image/png"]).replace("\n", "")
                parts.append(f"![figure](data:image/png;base64,{png})")
                continue
            text = _text(data.get("text/plain"))
        elif kind == "error":
            text = "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"])
        else:
            continue
        text = ANSI.sub("", text)
        if text.strip():
            parts.append(_fence(text, "text"))
    return parts


def notebook_markdown(path: Path) -> str:
    """The page a notebook reads as: its markdown, its code and the outputs stored with it."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for cell in notebook.get("cells", []):
        source = _text(cell.get("source"))
        if cell.get("cell_type") == "markdown":
            for name, data in (cell.get("attachments") or {}).items():  # pasted images: embedded
                mime, payload = next(iter(data.items()))
                source = source.replace(f"attachment:{name}", f"data:{mime};base64,{_text(payload)}")
            parts.append(source.strip())
        elif cell.get("cell_type") == "code" and source.strip():
            parts.append(_fence(source, "python"))
            parts.extend(_outputs(cell.get("outputs", [])))
    parts.append(
        f"*This page is the notebook `docs/{path.name}` with its stored outputs "
        f"([download it]({path.name})); run it with `uv run jupyter execute docs/{path.name}`.*"
    )
    return "\n\n".join(p for p in parts if p) + "\n"


def on_files(files, config):
    """Add tutorial.md, written from the notebook (when there is one and no hand-written page)."""
    from mkdocs.structure.files import File

    notebook = Path(config["docs_dir"]) / NOTEBOOK
    if notebook.is_file() and files.get_file_from_path(TUTORIAL) is None:
        files.append(File.generated(config, TUTORIAL, content=notebook_markdown(notebook)))
    return files


# ------------------------------------------------------------------------------------------ the command line


def _cell(text: str) -> str:
    """Text for a Markdown table cell: pipes escaped, and angle brackets outside code spans shown as typed."""
    text = " ".join(text.split()).replace("|", "\\|")
    pieces = text.split("`")
    for i in range(0, len(pieces), 2):  # outside code spans
        pieces[i] = pieces[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(pieces)


def _help(text: str | None) -> str:
    """A help text as typed: rich markup's escapes undone."""
    return (text or "").replace("\\[", "[").strip()


TYPES = {"str": "text", "int": "integer", "float": "number", "int range": "integer", "float range": "number"}


def _row(param, ctx) -> str | None:
    record = param.get_help_record(ctx)
    if record is None or param.name == "help":
        return None
    names = [*param.opts, *param.secondary_opts] if param.param_type_name == "option" else [param.name]
    help_text = _help(record[1])
    extras = {}
    if found := re.search(r"\s*\[([^\[\]]*)\]$", help_text):  # click's "[default: 1; 1<=x<=256]", "[required]"
        help_text = help_text[: found.start()]
        for part in found.group(1).split("; "):
            key, _, value = part.partition(": ")
            extras[key] = value
    flag = getattr(param, "is_flag", False)  # options only
    kind = param.display_type(ctx).strip("<>")
    if flag:
        kind = "flag"
    elif param.metavar:  # a shape the option spells out, e.g. K/N
        kind = f"`{param.metavar}`"
    elif "|" in kind:
        kind = "one of " + ", ".join(f"`{choice}`" for choice in kind.removeprefix("list[").rstrip("]").split("|"))
    else:
        kind = TYPES.get(kind, kind)
    if param.multiple:
        kind = f"{TYPES.get(kind.removeprefix('list[').rstrip(']'), kind)}, repeatable"
    kind += "".join(f", `{key}`" for key in extras if "x" in key and "<" in key)  # a range: 1<=x<=256
    if "default" in extras:
        default = extras["default"]
        default = f"`--{default}`" if flag and param.secondary_opts else f"`{default}`"
    else:
        default = "required" if param.required else ""
    option = ", ".join(f"`{name}`" for name in names)
    return f"| {option} | {_cell(kind)} | {default} | {_cell(help_text)} |"


def _command(command, ctx, heading: str) -> list[str]:
    lines = [f"{heading} `{ctx.command_path}`", "", _help(command.help), ""]
    lines += ["```text", command.get_usage(ctx), "```", ""]
    rows = [row for param in command.get_params(ctx) if (row := _row(param, ctx))]
    if rows:
        lines += ["| option | type | default | what it does |", "|---|---|---|---|", *rows, ""]
    if hasattr(command, "list_commands"):
        subcommands = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
        if ctx.parent is not None:  # a group of commands under salarynet: each listed, then each in full
            lines += [f"- `{ctx.command_path} {name}`: {_help(sub.help).splitlines()[0]}" for name, sub in subcommands]
            lines.append("")
        for name, sub in subcommands:
            lines += _command(
                sub, command.context_class(sub, info_name=name, parent=ctx), "###" if ctx.parent else "##"
            )
    return lines


def cli_markdown() -> str:
    """Every command of `salarynet`: its help, usage line and a table of its arguments and options."""
    import typer

    from salarynet.apps.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="salarynet")
    return "\n".join(_command(root, ctx, "##"))


def on_page_markdown(markdown, page, config, files):
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_markdown())
    return markdown
