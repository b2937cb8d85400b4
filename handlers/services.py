"""One place that wires the engine, the upload store and the domain services together."""
from dataclasses import dataclass
from pathlib import Path

from engine import ProcessEngine
from engine.jobs import JobExecutor

from . import notifications, reminders, webhooks  # noqa: F401 — they register operators and job handlers
from .applications import CompletionService, ManagerChangeService, UnlockService
from .operations import OperationsService
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
    operations: OperationsService

    @classmethod
    def create(cls, upload_dir: str | Path, max_upload: int = MAX_BYTES, max_files: int = MAX_FILES) -> "Services":
        engine = build_engine()
        uploads = UploadStore(upload_dir, max_upload, max_files)
        unlock, change, completion = (UnlockService(engine, uploads), ManagerChangeService(engine, uploads),
                                      CompletionService(engine, uploads))
        return cls(engine, uploads, unlock, change, completion,
                   ReviewService(engine, [unlock, change, completion]), OperationsService(engine))

    @property
    def by_kind(self):
        return {"unlock": self.unlock, "change": self.change, "completion": self.completion}

    def worker(self, **options) -> JobExecutor:
        """A job executor for this engine's timers and the registered job kinds (flask engine worker)."""
        return JobExecutor(self.engine.job_handlers(), on_incident=self.engine.job_incident, **options)

    def deploy_definitions(self, directory: Path = BPMN_DIR):
        with self.engine.command():
            return self.engine.definitions.deploy_directory(directory)
