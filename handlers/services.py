"""One place that wires the engine, the upload store and the domain services together."""
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine import Actor, ProcessEngine, StepResult, generations
from engine.definitions import FOLDER_NOTE, Deployment
from engine.jobs import IOJob, JobExecutor

from . import catalog, notifications, password_resets, reminders, webhooks  # noqa: F401 — they register operators and job handlers
from .applications import ApplicationService
from .certificates import CertificateService, KeyRing
from .migration import MigrationService
from .operations import OperationsService
from .processes import build_engine
from .reviews import ReviewService
from .studio import StudioService
from .uploads import MAX_BYTES, MAX_FILES, AttachmentStore, UploadStore

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"


@dataclass
class Services:
    engine: ProcessEngine
    uploads: UploadStore
    by_kind: dict[str, ApplicationService]   # one service per catalog entry, by its URL kind
    reviews: ReviewService
    operations: OperationsService
    studio: StudioService   # the designer's studio (handlers.studio)
    migration: MigrationService   # running applications to another version (handlers.migration)
    certificates: CertificateService   # the certificates approvals issue, and their verification

    @classmethod
    def create(cls, max_upload: int = MAX_BYTES, max_files: int = MAX_FILES,
               attachments: AttachmentStore | None = None, key_dir: str | Path | None = None,
               public_url: str = "") -> "Services":
        """``attachments``: where the bytes of uploads live (default: the database, DatabaseStore);
        ``key_dir``: the certificates' signing keys (the application passes CERTIFICATE_KEY_DIR, in
        the instance folder; without one, a throwaway key of this process, for benches and
        scenario runs); ``public_url``: the address the certificates' QR codes lead to."""
        engine = build_engine()
        engine.definitions.load_forms(BPMN_DIR)   # the forms a worker serves before any deploy (the release's files)
        engine.definitions.watch.on_change(generations.WEBHOOKS, webhooks.forget_listeners)
        uploads = UploadStore(max_upload, max_files, attachments)
        by_kind = {e.kind: e.service(engine, uploads, e) for e in catalog.entries()}
        key_dir = key_dir or tempfile.mkdtemp(prefix="certificate-keys-")
        certificates = CertificateService(engine, KeyRing(key_dir), public_url)
        return cls(engine, uploads, by_kind, ReviewService(engine, list(by_kind.values()), certificates),
                   OperationsService(engine, certificates), StudioService(engine), MigrationService(engine),
                   certificates)

    def __getattr__(self, kind: str) -> ApplicationService:
        """``services.unlock`` and friends: the service of a catalogued process."""
        try:
            return self.__dict__["by_kind"][kind]
        except KeyError:
            raise AttributeError(kind) from None

    def for_process(self, process_key: str) -> ApplicationService | None:
        entry = catalog.by_key(process_key)
        return self.by_kind.get(entry.kind) if entry else None

    def retry(self, instance_id: int, actor: Actor) -> StepResult:
        """Run an errored instance's failed step again; its application takes the declared status."""
        return self.operations.retry_for(instance_id, actor)

    def worker(self, **options) -> JobExecutor:
        """A job executor for this engine's timers and the registered job kinds (flask engine worker)."""
        return JobExecutor(self.engine.job_handlers(), on_incident=self.engine.job_incident, refresh=self.refresh,
                           **options)

    def lanes(self, delivery_threads: int = 4, **options) -> list[JobExecutor]:
        """The executors of one worker process, each for a thread of its own: the first runs timers,
        e-mails and every other job; the others only the jobs that wait on another system outside a
        transaction (IOJob: webhook deliveries), one at a time each, so a slow receiver delays
        neither a timer nor an e-mail, and another client's delivery only while every delivery
        thread is busy, each for at most its deadline."""
        handlers = self.engine.job_handlers()
        io_kinds = sorted(k for k, h in handlers.items() if isinstance(h, IOJob)) if delivery_threads > 0 else []
        main = JobExecutor(handlers, on_incident=self.engine.job_incident, skip_kinds=io_kinds, refresh=self.refresh,
                           **options)
        # the delivery lanes read no cached definitions or calendar: no generation check there
        io = [JobExecutor(handlers, on_incident=self.engine.job_incident, kinds=io_kinds, **{**options, "batch": 1})
              for _ in range(delivery_threads if io_kinds else 0)]
        return [main, *io]

    def deploy_definitions(self, directory: Path = BPMN_DIR, note: str | None = None, deployed_by: str | None = None):
        """Deploy a folder laid out as bpmn/ (``flask bpmn deploy``, ``flask init-db``)."""
        deployment = Deployment(note or FOLDER_NOTE, deployed_by or "flask bpmn deploy")
        with self.engine.command():
            return self.engine.definitions.deploy_directory(directory, deployment)

    def refresh(self, carried: str | None = None, read: bool = True) -> None:
        """At the start of every request (and of a job worker's batch): serve what another process
        deployed, and the calendar another process changed (one statement, engine.generations; none
        with ``read=False``, when the login's or the token's statement carried the generations)."""
        self.engine.definitions.refresh(carried, read)
