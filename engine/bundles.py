"""Deployment bundles: a process version is its diagram plus the files it uses, stored together.

A bundle is what ``bpmn/`` holds for one process, by path:

- the diagram, ``<name>.bpmn`` (``Bundle.diagram_name``);
- the form files its user tasks name, ``forms/<formKey>.json``;
- the designer's scenario files, ``tests/<file>.yaml`` (or ``.json``), kept on disk as
  ``bpmn/tests/<process key>/<file>`` (engine.scenarios reads them).

Each file has its sha256. The bundle's own hash (``Bundle.hash``, stored as the version's
``content_hash``) covers the diagram and the forms, i.e. what runs: a changed scenario alone is
not a new version. A deployed bundle never changes, so everything parsed from it may be cached
by its hash for the life of a process (engine.definitions).
"""
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from .forms import FORMS_DIR, load_form_text
from .validation import BPMN_NS, FORM_KEY, SPIFF_NS, FormFiles

FORM_PREFIX = f"{FORMS_DIR}/"
TEST_PREFIX = "tests/"
SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Bundle:
    diagram_name: str                                     # e.g. personnel_unlock.bpmn
    xml: bytes
    files: dict[str, bytes] = field(default_factory=dict)  # bundle path -> content

    @property
    def diagram_hash(self) -> str:
        return sha256(self.xml)

    @property
    def file_hashes(self) -> dict[str, str]:
        return {name: sha256(content) for name, content in sorted(self.files.items())}

    @property
    def hash(self) -> str:
        """The version's identity: the diagram's and the form files' hashes (not the scenarios)."""
        manifest = [f"{self.diagram_hash}\n"] + [f"{name} {digest}\n" for name, digest in self.file_hashes.items()
                                                  if name.startswith(FORM_PREFIX)]
        return sha256("".join(manifest).encode("utf-8"))

    @property
    def forms(self) -> dict[str, bytes]:
        return {n: c for n, c in self.files.items() if n.startswith(FORM_PREFIX)}

    @property
    def scenarios(self) -> dict[str, bytes]:
        return {n: c for n, c in self.files.items() if n.startswith(TEST_PREFIX)}

    def form_files(self) -> FormFiles:
        """The bundle's forms parsed: good specs by key, problems by file name (as the validator wants)."""
        found = FormFiles()
        for name, content in sorted(self.forms.items()):
            filename = name[len(FORM_PREFIX):]
            try:
                spec, problems = load_form_text(content.decode("utf-8"), filename)
            except UnicodeDecodeError as exc:
                spec, problems = None, [f"无法读取：{exc}"]
            if problems:
                found.problems[filename] = problems
            else:
                found.specs[spec.key] = spec
        return found

    # -- files ----------------------------------------------------------------------
    @classmethod
    def from_directory(cls, directory: Path, diagram: Path | str) -> "Bundle":
        """One diagram of a folder laid out as ``bpmn/`` with the forms it names and its scenarios."""
        directory = Path(directory)
        path = directory / diagram
        xml = path.read_bytes()
        files = {}
        for key in form_keys(xml):
            form = directory / FORMS_DIR / f"{key}.json"
            if form.is_file():
                files[f"{FORM_PREFIX}{key}.json"] = form.read_bytes()
        tests = directory / "tests" / (process_id(xml) or path.stem)
        if tests.is_dir():
            for scenario in sorted(tests.iterdir()):
                if scenario.suffix in SCENARIO_SUFFIXES and scenario.is_file():
                    files[f"{TEST_PREFIX}{scenario.name}"] = scenario.read_bytes()
        return cls(path.name, xml, files)

    def write_to(self, directory: Path) -> list[Path]:
        """Write the bundle as ``bpmn/`` lays it out (for the repository); returns the files written."""
        directory = Path(directory)
        key = process_id(self.xml) or Path(self.diagram_name).stem
        written = [directory / self.diagram_name]
        written[0].parent.mkdir(parents=True, exist_ok=True)
        written[0].write_bytes(self.xml)
        for name, content in sorted(self.files.items()):
            target = directory / _repository_path(name, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written.append(target)
        return written

    def zip(self) -> bytes:
        """The same layout as ``write_to``, as a zip archive (the studio's download)."""
        key = process_id(self.xml) or Path(self.diagram_name).stem
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(self.diagram_name, self.xml)
            for name, content in sorted(self.files.items()):
                archive.writestr(_repository_path(name, key), content)
        return buffer.getvalue()


def _repository_path(name: str, process_key: str) -> str:
    if name.startswith(TEST_PREFIX):   # scenarios of several processes share bpmn/tests/
        return f"{TEST_PREFIX}{process_key}/{name[len(TEST_PREFIX):]}"
    return name


def _root(xml: bytes):
    try:
        return etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return None


def form_uses(xml: bytes) -> list[tuple[str, str]]:
    """(user task id, form key) for each user task naming a form (a bad file names none)."""
    root = _root(xml)
    if root is None:
        return []
    uses = []
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        for prop in task.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name") == FORM_KEY and prop.get("value"):
                uses.append((task.get("id"), prop.get("value")))
    return uses


def form_keys(xml: bytes) -> list[str]:
    """The form keys the diagram's user tasks name, in order, once each."""
    return list(dict.fromkeys(key for _task, key in form_uses(xml)))


def process_id(xml: bytes) -> str | None:
    """The id of the diagram's executable process (the process key), or None."""
    root = _root(xml)
    if root is None:
        return None
    for process in root.iterfind(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") == "true":
            return process.get("id")
    return None
