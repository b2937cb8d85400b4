"""What a diagram set may refer to: service operators, candidate rules and forms."""
from dataclasses import dataclass, field
from typing import Any, Callable

from .actor import Actor


@dataclass
class ServiceCall:
    """What a service operator receives when a service task runs."""
    instance: Any           # engine.store.InstanceRecord: the instance as the command sees it
    element_id: str
    actor: Actor            # whose action drove the engine to this task
    params: dict[str, Any]  # evaluated serviceTaskOperator parameters


Operator = Callable[[ServiceCall], dict]
CandidateRule = Callable[[Any], list[int]]      # InstanceRecord -> organisation ids
FormValidator = Callable[[dict], dict]           # raw data -> cleaned data (raises InvalidFormData)
JobHandler = Callable[[Any], None]               # engine.jobs.JobContext -> None (raises to retry)
IncidentListener = Callable[[str, int, str], None]   # ("instance"|"job", its id, message), in the transaction
# (instance id, the status the diagram declares where it now waits): after a migration or a rollback
MigrationListener = Callable[[int, str | None], None]


@dataclass
class EngineRegistry:
    operators: dict[str, Operator] = field(default_factory=dict)
    candidate_rules: dict[str, CandidateRule] = field(default_factory=dict)
    forms: dict[str, FormValidator] = field(default_factory=dict)   # FormSpec files register here on deploy
    job_handlers: dict[str, JobHandler] = field(default_factory=dict)
    incident_listeners: list[IncidentListener] = field(default_factory=list)
    migration_listeners: list[MigrationListener] = field(default_factory=list)
    # the statuses user tasks and end events may declare (``status`` property); empty: not checked
    statuses: set[str] = field(default_factory=set)
    # element id -> (status, status on return) for stored versions that predate status properties
    legacy_statuses: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def operator(self, name: str):
        def register(fn: Operator) -> Operator:
            self.operators[name] = fn
            return fn
        return register

    def candidate_rule(self, name: str):
        def register(fn: CandidateRule) -> CandidateRule:
            self.candidate_rules[name] = fn
            return fn
        return register

    def form(self, key: str):
        def register(fn: FormValidator) -> FormValidator:
            self.forms[key] = fn
            return fn
        return register

    def job_handler(self, kind: str):
        """Register the handler of a job kind (see engine.jobs.enqueue)."""
        def register(fn: JobHandler) -> JobHandler:
            self.job_handlers[kind] = fn
            return fn
        return register

    def incident_listener(self, fn: IncidentListener) -> IncidentListener:
        self.incident_listeners.append(fn)
        return fn

    def migration_listener(self, fn: MigrationListener) -> MigrationListener:
        self.migration_listeners.append(fn)
        return fn
