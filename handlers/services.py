"""One place that wires the engine, the upload store and the domain services together."""
from dataclasses import dataclass
from pathlib import Path

from engine import ProcessEngine

from .applications import CompletionService, ManagerChangeService, UnlockService
from .processes import build_engine
from .reviews import ReviewService
from .uploads import MAX_BYTES, MAX_FILES, UploadStore

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"


@dataclass
class Services:
    engine: ProcessEngine
    uploads: UploadStore
    unlock: UnlockService
    change: ManagerChangeService
    completion: CompletionService
    reviews: ReviewService

    @classmethod
    def create(cls, upload_dir: str | Path, max_upload: int = MAX_BYTES, max_files: int = MAX_FILES) -> "Services":
        engine = build_engine()
        uploads = UploadStore(upload_dir, max_upload, max_files)
        unlock, change, completion = (UnlockService(engine, uploads), ManagerChangeService(engine, uploads),
                                      CompletionService(engine, uploads))
        return cls(engine, uploads, unlock, change, completion,
                   ReviewService(engine, [unlock, change, completion]))

    @property
    def by_kind(self):
        return {"unlock": self.unlock, "change": self.change, "completion": self.completion}

    def deploy_definitions(self, directory: Path = BPMN_DIR):
        with self.engine.command():
            return self.engine.definitions.deploy_directory(directory)
