"""A linter for MJCF files: file references, mesh scales, and whether the model compiles.

Rules (``code``: severity):

- ``xml-error``: error — the file is not well-formed XML, or its root is not ``<mujoco>``;
- ``absolute-path``: error — a file or directory attribute holds an absolute path
  (``file``, ``fileright`` …, ``<compiler meshdir texturedir assetdir>``, ``<include>``,
  ``<model>``); assets must be relocatable;
- ``missing-file``: error — a referenced mesh, height field, skin, texture, include or model
  file does not exist where MuJoCo looks for it (``<compiler assetdir meshdir texturedir
  strippath>`` respected; includes share the including model's compiler settings; attached
  ``<model>`` files are linted as models of their own);
- ``mesh-scale``: warning — a mesh ``scale`` far from the usual unit conversions (outside
  ``[1e-4, 10]``, i.e. not 1, 0.001 for mm→m, 0.01, 0.0254, …), mixed units (one axis 50×
  another) or zero (error);
- ``mesh-size``: warning — a compiled mesh more than 20 m or less than 0.5 mm across
  (typically a mm-unit mesh without ``scale="0.001 0.001 0.001"``); error from 50 m on (an arm
  280 m long is not a robot, it is a unit mistake);
- ``compile-error``: error — MuJoCo cannot compile the model. Files included by other files are
  fragments (actuator or keyframe lists, …) and are compiled through the file that includes them:
  one of the linted files, or, for a fragment that does not compile on its own, an including
  file found next to it or one folder up.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal
from xml.parsers import expat

import numpy as np

Severity = Literal["error", "warning"]

#: Asset elements with file attributes, and the compiler directory they are resolved against.
_ASSET_DIRS = {"mesh": "meshdir", "hfield": "meshdir", "skin": "meshdir", "texture": "texturedir"}
_TEXTURE_FILES = ("file", "fileright", "fileleft", "fileup", "filedown", "filefront", "fileback")
_SCALE_RANGE = (1e-4, 10.0)
_SCALE_RATIO = 50.0
_MESH_SIZE_RANGE = (5e-4, 20.0)
_MESH_SIZE_ABSURD = 50.0  # metres: beyond this a mesh size is an error, not a warning


@dataclass(frozen=True)
class LintFinding:
    """One problem in one file (``line`` is 1-based when known)."""

    path: str
    severity: Severity
    code: str
    message: str
    line: int | None = None

    def format(self) -> str:
        """``path:line: severity [code] message``."""
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity} [{self.code}] {self.message}"


@dataclass
class LintResult:
    """All findings for a set of files."""

    files: list[str] = field(default_factory=list)
    findings: list[LintFinding] = field(default_factory=list)

    @property
    def errors(self) -> list[LintFinding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[LintFinding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict:
        """JSON-ready summary (for ``--json`` and CI)."""
        return {
            "files": self.files,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [asdict(f) for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _is_absolute(path: str) -> bool:
    return PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


class _Parsed:
    """An XML file with the source line of each element."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[int, int] = {}
        builder = ET.TreeBuilder()
        parser = expat.ParserCreate()

        def start(tag: str, attrs: dict[str, str]) -> None:
            element = builder.start(tag, attrs)
            self.lines[id(element)] = parser.CurrentLineNumber

        parser.StartElementHandler = start
        parser.EndElementHandler = builder.end
        try:
            parser.Parse(path.read_bytes(), True)
        except expat.ExpatError as e:
            raise ET.ParseError(str(e)) from None
        self.root = builder.close()

    def line(self, element: ET.Element) -> int | None:
        return self.lines.get(id(element))


class _ModelLinter:
    """Lints one top-level model file together with the files it includes."""

    def __init__(self, path: Path, findings: list[LintFinding], seen_models: set[Path]) -> None:
        self.main = path
        self.findings = findings
        self.seen_models = seen_models
        self.included: set[Path] = set()
        self.compiler: dict[str, str] = {}
        self.assets: list[tuple[_Parsed, ET.Element]] = []
        self.mesh_defaults: list[tuple[_Parsed, ET.Element]] = []
        self.models: list[tuple[_Parsed, ET.Element, Path]] = []

    def add(
        self, path: Path, severity: Severity, code: str, message: str, line: int | None
    ) -> None:
        self.findings.append(LintFinding(str(path), severity, code, message, line))

    def parse(self, path: Path) -> _Parsed | None:
        try:
            parsed = _Parsed(path)
        except ET.ParseError as e:
            self.add(path, "error", "xml-error", f"not well-formed XML: {e}", _error_line(e))
            return None
        except OSError as e:
            self.add(path, "error", "missing-file", f"cannot read the file: {e}", None)
            return None
        if parsed.root.tag not in ("mujoco", "mujocoinclude"):
            self.add(
                path,
                "error",
                "xml-error",
                f"root element is <{parsed.root.tag}>, expected <mujoco>",
                parsed.line(parsed.root),
            )
            return None
        return parsed

    def collect(self, parsed: _Parsed, stack: tuple[Path, ...]) -> None:
        """Walk one file, following includes, gathering compiler settings and asset elements."""
        for element in parsed.root.iter():
            tag = element.tag
            line = parsed.line(element)
            if tag == "compiler":
                for key in ("assetdir", "meshdir", "texturedir"):
                    value = element.get(key)
                    if value is None:
                        continue
                    if _is_absolute(value):
                        self.add(
                            parsed.path,
                            "error",
                            "absolute-path",
                            f"<compiler {key}={value!r}> is an absolute path; use a path "
                            "relative to the model file",
                            line,
                        )
                    self.compiler[key] = value
                if element.get("strippath") is not None:
                    self.compiler["strippath"] = element.get("strippath", "false")
            elif tag == "include":
                self.follow_include(parsed, element, stack)
            elif tag in _ASSET_DIRS:
                if _inside(parsed.root, element, "default"):
                    if tag == "mesh":
                        self.mesh_defaults.append((parsed, element))
                else:
                    self.assets.append((parsed, element))
            elif tag == "model" and element.get("file") is not None:
                self.check_model_asset(parsed, element)

    def follow_include(self, parsed: _Parsed, element: ET.Element, stack: tuple[Path, ...]) -> None:
        line = parsed.line(element)
        file = element.get("file")
        if not file:
            self.add(parsed.path, "error", "missing-file", "<include> without a file", line)
            return
        if _is_absolute(file):
            self.add(
                parsed.path,
                "error",
                "absolute-path",
                f"<include file={file!r}> is an absolute path; use a relative path",
                line,
            )
        candidates = [parsed.path.parent / file, self.main.parent / file]
        target = next((c for c in candidates if c.is_file()), None)
        if target is None:
            self.add(
                parsed.path,
                "error",
                "missing-file",
                f"<include file={file!r}>: no such file (looked for {candidates[0]})",
                line,
            )
            return
        target = target.resolve()
        if target in stack:
            self.add(parsed.path, "error", "xml-error", f"include loop through {target}", line)
            return
        self.included.add(target)
        child = self.parse(target)
        if child is not None:
            self.collect(child, (*stack, target))

    def check_model_asset(self, parsed: _Parsed, element: ET.Element) -> None:
        file = element.get("file", "")
        line = parsed.line(element)
        if _is_absolute(file):
            self.add(
                parsed.path,
                "error",
                "absolute-path",
                f"<model file={file!r}> is an absolute path; use a relative path",
                line,
            )
        target = self.main.parent / file
        if not target.is_file():
            self.add(
                parsed.path,
                "error",
                "missing-file",
                f"<model file={file!r}>: no such file (looked for {target})",
                line,
            )
            return
        self.models.append((parsed, element, target.resolve()))

    def asset_dir(self, kind: str) -> Path:
        directory = self.compiler.get(kind) or self.compiler.get("assetdir") or ""
        return self.main.parent / directory

    def check_assets(self) -> None:
        strip = self.compiler.get("strippath", "false").lower() == "true"
        for parsed, element in self.assets:
            attrs = _TEXTURE_FILES if element.tag == "texture" else ("file",)
            directory = self.asset_dir(_ASSET_DIRS[element.tag])
            line = parsed.line(element)
            for attr in attrs:
                file = element.get(attr)
                if not file:
                    continue
                if _is_absolute(file):
                    self.add(
                        parsed.path,
                        "error",
                        "absolute-path",
                        f"<{element.tag} {attr}={file!r}> is an absolute path; use a path "
                        f"relative to the model file (or its <compiler {_ASSET_DIRS[element.tag]}>)",
                        line,
                    )
                    if not Path(file).is_file():
                        self.add(
                            parsed.path,
                            "error",
                            "missing-file",
                            f"<{element.tag} {attr}={file!r}>: no such file",
                            line,
                        )
                    continue
                name = Path(file).name if strip else file
                target = directory / name
                if not target.is_file():
                    kind = _ASSET_DIRS[element.tag]
                    used = next((k for k in (kind, "assetdir") if self.compiler.get(k)), None)
                    how = (
                        f"resolved with <compiler {used}={self.compiler[used]!r}>"
                        if used
                        else f"no <compiler {kind}> or assetdir is set"
                    )
                    self.add(
                        parsed.path,
                        "error",
                        "missing-file",
                        f"<{element.tag} {attr}={file!r}>: no such file {target} ({how})",
                        line,
                    )
            if element.tag == "mesh" and element.get("scale") is not None:
                self.check_scale(parsed, element)
        for parsed, element in self.mesh_defaults:
            if element.get("scale") is not None:
                self.check_scale(parsed, element)

    def check_scale(self, parsed: _Parsed, element: ET.Element) -> None:
        text = element.get("scale", "")
        line = parsed.line(element)
        name = element.get("name") or element.get("file") or "(default)"
        try:
            scale = np.array([float(v) for v in text.split()])
        except ValueError:
            self.add(
                parsed.path,
                "error",
                "mesh-scale",
                f"mesh {name}: scale {text!r} is not numeric",
                line,
            )
            return
        if scale.size not in (1, 3):
            self.add(
                parsed.path,
                "error",
                "mesh-scale",
                f"mesh {name}: scale {text!r} needs 3 numbers",
                line,
            )
            return
        magnitude = np.abs(scale)
        if np.any(magnitude == 0):
            self.add(
                parsed.path, "error", "mesh-scale", f"mesh {name}: scale {text!r} has a zero", line
            )
            return
        lo, hi = _SCALE_RANGE
        if np.any(magnitude < lo) or np.any(magnitude > hi):
            self.add(
                parsed.path,
                "warning",
                "mesh-scale",
                f"mesh {name}: suspicious scale {text!r} (expected about 1, or a unit "
                f"conversion such as 0.001 for mm -> m; allowed range [{lo:g}, {hi:g}])",
                line,
            )
        elif magnitude.max() / magnitude.min() > _SCALE_RATIO:
            self.add(
                parsed.path,
                "warning",
                "mesh-scale",
                f"mesh {name}: scale {text!r} mixes units across axes "
                f"(ratio {magnitude.max() / magnitude.min():.0f})",
                line,
            )

    def compile(self) -> None:
        import mujoco

        try:
            model = mujoco.MjModel.from_xml_path(str(self.main))
        except ValueError as e:
            message = " ".join(str(e).split())
            self.add(
                self.main, "error", "compile-error", f"MuJoCo cannot compile it: {message}", None
            )
            return
        lo, hi = _MESH_SIZE_RANGE
        for i in range(model.nmesh):
            start, count = model.mesh_vertadr[i], model.mesh_vertnum[i]
            if count == 0:
                continue
            vertices = model.mesh_vert[start : start + count]
            size = float(np.max(vertices.max(axis=0) - vertices.min(axis=0)))
            name = model.mesh(i).name or f"#{i}"
            if size > hi or size < lo:
                hint = (
                    'is it in millimetres? add scale="0.001 0.001 0.001"'
                    if size > hi
                    else "check its scale"
                )
                self.add(
                    self.main,
                    "error" if size >= _MESH_SIZE_ABSURD else "warning",
                    "mesh-size",
                    f"mesh {name} is {size:.4g} m across after scaling; {hint}",
                    None,
                )

    def run(self, compile_model: bool) -> None:
        parsed = self.parse(self.main)
        if parsed is None:
            return
        start = len(self.findings)
        self.collect(parsed, (self.main.resolve(),))
        self.check_assets()
        for _, _, child in self.models:
            if child not in self.seen_models:
                self.seen_models.add(child)
                _ModelLinter(child, self.findings, self.seen_models).run(compile_model=False)
        if compile_model and not any(f.code == "xml-error" for f in self.findings[start:]):
            self.compile()


def _error_line(error: ET.ParseError) -> int | None:
    """The line number in an expat message such as ``"mismatched tag: line 3, column 2"``."""
    import re

    match = re.search(r"line (\d+)", str(error))
    return int(match.group(1)) if match else None


def _inside(root: ET.Element, element: ET.Element, tag: str) -> bool:
    """Whether ``element`` has an ancestor ``<tag>`` under ``root``."""

    def walk(node: ET.Element, inside: bool) -> bool | None:
        for child in node:
            if child is element:
                return inside
            found = walk(child, inside or child.tag == tag)
            if found is not None:
                return found
        return None

    return bool(walk(root, root.tag == tag))


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.xml") if p.is_file()))
        else:
            files.append(path)
    return [p.resolve() if p.exists() else p for p in files]


def lint_paths(paths: Sequence[str | Path] | None = None) -> LintResult:
    """Lint MJCF files and folders (``*.xml`` found recursively); default: the shipped assets."""
    if not paths:
        from sensorimotor.sim.scenes import ASSETS_DIR

        paths = [ASSETS_DIR]
    files = _expand(paths)
    findings: list[LintFinding] = []
    # Files included by another linted file are fragments: checked through their includer only.
    included: set[Path] = set()
    for path in files:
        if not path.is_file():
            continue
        probe = _ModelLinter(path, [], set())
        parsed = probe.parse(path)
        if parsed is not None:
            probe.collect(parsed, (path,))
            included |= probe.included
    seen_models: set[Path] = set()
    linted = list(files)
    for path in files:
        if not path.is_file():
            findings.append(LintFinding(str(path), "error", "missing-file", "no such file"))
            continue
        if path in included:
            continue
        own: list[LintFinding] = []
        _ModelLinter(path, own, seen_models).run(compile_model=True)
        includer = None
        if any(f.code == "compile-error" for f in own):
            includer = _find_includer(path)
        if includer is None:
            findings.extend(own)
        elif includer not in linted:  # a fragment: lint it through the file that includes it
            linted.append(includer)
            _ModelLinter(includer, findings, seen_models).run(compile_model=True)
    unique = list(dict.fromkeys(findings))
    return LintResult(files=[str(p) for p in linted], findings=unique)


def _find_includer(fragment: Path) -> Path | None:
    """An MJCF file next to ``fragment`` or one folder up (recursively) that includes it."""
    folders = [fragment.parent, fragment.parent.parent]
    candidates = dict.fromkeys(
        p.resolve()
        for folder in folders
        for p in (folder.glob("*.xml") if folder == fragment.parent else folder.rglob("*.xml"))
        if p.is_file()
    )
    for candidate in list(candidates)[:500]:  # a bound for huge trees
        if candidate == fragment:
            continue
        probe = _ModelLinter(candidate, [], set())
        parsed = probe.parse(candidate)
        if parsed is None:
            continue
        probe.collect(parsed, (candidate,))
        if fragment in probe.included:
            return candidate
    return None


def lint_file(path: str | Path) -> list[LintFinding]:
    """Findings for one MJCF file (with its includes and attached models)."""
    return lint_paths([path]).findings
