#!/usr/bin/env python3
"""Writes one man page (roff) from its source in man/, so that the pages
cannot drift from the programs and the docs they describe.

A source is Markdown (the subset the docs use: headings, paragraphs, lists,
fenced code, tables, inline code, emphasis, links). Its first line names the
page; the other directives each expand, where they stand, to text taken from
the thing itself:

  <!-- @page NAME SECTION -->      the page's name and section (first line)
  <!-- @cli PROGRAM -->            each subcommand that PROGRAM --help
                                   lists, with its own --help
  <!-- @options PROGRAM -->        the options of PROGRAM --help
  <!-- @include FILE.md -->        a document of docs/, converted
  <!-- @c-functions FILE.h -->     the prototypes of a C header, by section
  <!-- @c-codes FILE.h -->         the enumerators of a C header, with comments

  gen_manpage.py --source man/shmreg.1.md --output shmreg.1 --root SRC \
      --version 0.1.0 [--program shmreg=/path/to/shmreg ...]
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

# A link to one of these docs points at the page that carries it.
DOC_PAGES = {"config.md": "shmreg.conf(5)", "broker-options.md": "shmreg-broker(8)", "c-api.md": "libshmreg(3)"}

DIRECTIVE = re.compile(r"^\s*<!--\s*@([a-z-]+)\s*(.*?)\s*-->\s*$")


def escape(text):
    """Plain text to roff: backslashes, and every non-ASCII character as
    its Unicode escape, so that the page renders the same in any locale."""
    text = text.replace("\\", "\\e")
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)


def line_safe(text):
    """A roff text line may not start with a control character."""
    return "\\&" + text if text[:1] in (".", "'") else text


def literal(text):
    return escape(text).replace("-", "\\-")


def inline(text):
    """Markdown inline markup to roff font changes."""
    spans = []

    def keep(roff):
        spans.append(roff)
        return f"\x00{len(spans) - 1}\x00"

    text = re.sub(r"`([^`]+)`", lambda m: keep("\\fB" + literal(m.group(1)) + "\\fR"), text)

    def link(m):
        label, target = m.group(1), m.group(2)
        page = DOC_PAGES.get(target.split("/")[-1].split("#")[0])
        if page is None:
            return label
        return page if label.endswith(".md") else f"{label} (see {page})"

    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", link, text)
    text = escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"\\fI\1\\fR", text)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text)


def split_row(line):
    cells = line.strip().strip("|").split("|")
    return [c.strip() for c in cells]


class Converter:
    def __init__(self, args):
        self.args = args
        self.programs = dict(p.split("=", 1) for p in args.program)

    # -- Markdown --
    def markdown(self, lines, drop_title=False):
        out, i = [], 0
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if not stripped:
                i += 1
                continue
            d = DIRECTIVE.match(line)
            if d:
                out += self.directive(d.group(1), d.group(2))
                i += 1
            elif stripped.startswith("```"):
                i = self.code(lines, i, out)
            elif re.match(r"#{1,6} ", stripped):
                level = len(stripped) - len(stripped.lstrip("#"))
                title = stripped[level:].strip()
                if level == 1 and drop_title:
                    pass  # an included doc's title: the page has its own
                elif level <= 2:
                    out += [".SH \"" + inline(title.upper()) + "\""]
                else:
                    out += [".SS \"" + inline(title) + "\""]
                i += 1
            elif stripped.startswith("|"):
                i = self.table(lines, i, out)
            elif re.match(r"(- |\d+\. )", stripped):
                i = self.list(lines, i, out)
            else:
                para = []
                while i < len(lines) and lines[i].strip() and not self.starts_block(lines[i]):
                    para.append(lines[i].strip())
                    i += 1
                out += [".PP", line_safe(inline(" ".join(para)))]
        return out

    @staticmethod
    def starts_block(line):
        s = line.strip()
        return bool(s.startswith(("```", "|", "#")) or re.match(r"(- |\d+\. )", s) or DIRECTIVE.match(line))

    def code(self, lines, i, out):
        indent = len(lines[i]) - len(lines[i].lstrip())
        i += 1
        body = []
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        out += [".PP", ".RS 4", ".nf"] + [line_safe(literal(b)) for b in body] + [".fi", ".RE"]
        return i + 1

    def table(self, lines, i, out):
        header = split_row(lines[i])
        i += 2  # the header and its |---| line
        while i < len(lines) and lines[i].strip().startswith("|"):
            cells = split_row(lines[i])
            out += [".TP", line_safe(inline(cells[0]) or "\\(em")]
            if len(header) == 2:  # a term and its meaning: no label needed
                body = [inline(cells[1])] if len(cells) > 1 else []
            else:
                body = [f"\\fI{escape(h)}\\fR: {inline(c)}" for h, c in zip(header[1:], cells[1:]) if c]
            out += [line_safe(b) if n == 0 else ".br\n" + line_safe(b) for n, b in enumerate(body)]
            i += 1
        return i

    def list(self, lines, i, out):
        base = len(lines[i]) - len(lines[i].lstrip())
        items = []
        while i < len(lines):
            line = lines[i]
            ind = len(line) - len(line.lstrip())
            m = re.match(r"(- |\d+\. )", line.strip())
            if line.strip() and ind == base and m:
                items.append((m.group(1).strip(), [line.strip()[len(m.group(1)):]]))
            elif line.strip() and ind > base:
                items[-1][1].append(line[base + 2:] if line[: base + 2].strip() == "" else line.strip())
            elif not line.strip() and i + 1 < len(lines) and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > base:
                items[-1][1].append("")
            else:
                break
            i += 1
        for mark, body in items:
            tag = "\\(bu" if mark == "-" else mark
            inner = self.markdown(body)
            if inner[:1] == [".PP"]:  # the item's first paragraph goes beside its mark
                end = next((n for n in range(1, len(inner)) if inner[n].startswith(".")), len(inner))
                out += [f".IP {tag} 4"] + inner[1:end]
                rest = inner[end:]
            else:
                out += [f".IP {tag} 4"]
                rest = inner
            if rest:
                out += [".RS 4"] + rest + [".RE"]
        return i

    # -- Directives --
    def directive(self, name, arg):
        if name == "page":
            return []
        if name == "cli":
            return self.cli(arg)
        if name == "options":
            return self.help_sections(self.help([arg]), only=("Options",))
        if name == "include":
            lines = (self.args.root / arg).read_text().splitlines()
            return self.markdown(drop_contents(lines), drop_title=True)
        if name == "c-functions":
            return c_functions((self.args.root / arg).read_text())
        if name == "c-codes":
            return c_codes((self.args.root / arg).read_text())
        sys.exit(f"gen_manpage.py: unknown directive @{name}")

    def help(self, argv):
        program = self.programs.get(argv[0])
        if program is None:
            sys.exit(f"gen_manpage.py: no --program {argv[0]}=PATH given")
        run = subprocess.run([program, *argv[1:], "--help"], capture_output=True, text=True, check=False)
        if run.returncode != 0 or not run.stdout:
            sys.exit(f"gen_manpage.py: {' '.join(argv)} --help failed: {run.stderr}")
        return run.stdout

    def cli(self, program):
        text = self.help([program])
        out = []  # the program's own options are @options's
        for name, summary in parse_help(text).get("Subcommands", []):
            sub = self.help([program, name])
            usage = next((l for l in sub.splitlines() if l.startswith("Usage:")), "Usage: ")
            # CLI11 prints the path the program was run by; the page names the program.
            words = usage[len("Usage: "):].split(" ", 1)
            usage = "Usage: " + " ".join([program] + words[1:])
            out += [".SS " + name, ".PP", line_safe(escape(summary)) + ".", ".PP", ".nf",
                    "\\fB" + literal(usage[len("Usage: "):]) + "\\fR", ".fi"]
            out += self.help_sections(sub, only=("Positionals", "Options"), skip_help=True)
        return out

    @staticmethod
    def help_sections(text, only, skip_help=False):
        out = []
        sections = parse_help(text)
        for section in only:
            for name, desc in sections.get(section, []):
                if skip_help and name.startswith("-h,--help"):
                    continue
                out += [".TP", "\\fB" + literal(name) + "\\fR", line_safe(escape(desc) or "\\&")]
        return out


def parse_help(text):
    """CLI11's --help: {section: [(item, description)]}. An item line is
    indented two spaces; its description follows after two or more spaces,
    or on the next, deeper indented line when the item is long."""
    sections, current = {}, None
    for line in text.splitlines():
        heading = re.match(r"^([A-Z][A-Za-z ]*):$", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif current is None or not line.strip():
            continue
        elif line.startswith("  ") and not line.startswith("   "):
            name, _, desc = line.strip().partition("  ")
            current.append([name.strip(), desc.strip()])
        elif current:
            current[-1][1] = (current[-1][1] + " " + line.strip()).strip()
    return {k: [tuple(v) for v in vs] for k, vs in sections.items()}


def drop_contents(lines):
    """A doc's table of contents (a list of links to its own sections) says
    nothing in a man page."""
    return [l for l in lines if not re.match(r"^- \[[^\]]+\]\(#[^)]+\)", l)]


def c_functions(header):
    """Each prototype of the header, joined onto one line, under the
    header's "-- Section --" comments."""
    out, pending = [], None
    for line in header.splitlines():
        section = re.match(r"^/\* -- (.+) -- \*/$", line)
        if section:
            out += [".SS \"" + escape(section.group(1)) + "\""]
        elif pending is not None:
            pending.append(line.strip())
        elif re.match(r"^(typedef [^;]*\(\*shmreg_[a-z_]+\)\(|[a-z][^(/]*\bshmreg_[a-z_]+\()", line):
            pending = [line.strip()]
        if pending is not None and line.rstrip().endswith(";"):
            out += [".PP", "\\fB" + literal(" ".join(pending)) + "\\fR"]
            pending = None
    return out


def c_codes(header):
    out = []
    for line in header.splitlines():
        m = re.match(r"^\s+(SHMREG_[A-Z_]+)\s*=\s*(\d+),?\s*(?:/\*\s*(.*?)\s*\*/)?", line)
        if m:
            out += [".TP", f"\\fB{literal(m.group(1))}\\fR ({m.group(2)})", line_safe(escape(m.group(3) or "\\&"))]
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--root", type=Path, required=True, help="the source tree, for @include and @c-*")
    p.add_argument("--version", required=True)
    p.add_argument("--program", action="append", default=[], help="NAME=PATH of a program a directive runs")
    args = p.parse_args()
    lines = args.source.read_text().splitlines()
    page = DIRECTIVE.match(lines[0]) if lines else None
    if not page or page.group(1) != "page":
        sys.exit(f"gen_manpage.py: {args.source} must open with <!-- @page NAME SECTION -->")
    name, section = page.group(2).split()
    roff = [f".\\\" Generated by scripts/gen_manpage.py from man/{args.source.name}; edit that file.",
            f".TH {name.upper()} {section} \"\" \"shmreg {args.version}\" \"shmreg manual\"",
            ".nh", ".ad l"]
    roff += Converter(args).markdown(lines[1:])
    args.output.write_text("\n".join(roff) + "\n")


if __name__ == "__main__":
    main()
