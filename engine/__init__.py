"""Generic BPMN approval runtime on SpiffWorkflow.

The engine knows nothing about the construction domain: it takes an
``EngineRegistry`` of service operators, candidate rules and forms, so the same
runtime executes any diagram set.
"""
from .actor import Actor
from .db import db
from .errors import (
    EngineError, DefinitionError, DefinitionNotFound, TaskNotFound, NotCandidate,
    TaskAlreadyClaimed, TaskNotClaimed, TaskClosed, InvalidFormData,
    ConcurrentModification, InstanceErrored, UnknownOperator, RollbackOnly, PendingWork, DraftRefused,
)
from .registry import EngineRegistry
from .definitions import DefinitionStore
from .runtime import ProcessEngine, StepResult

__all__ = [
    "Actor", "db", "EngineError", "DefinitionError", "DefinitionNotFound", "TaskNotFound",
    "NotCandidate", "TaskAlreadyClaimed", "TaskNotClaimed", "TaskClosed", "InvalidFormData",
    "ConcurrentModification", "InstanceErrored", "UnknownOperator", "RollbackOnly", "PendingWork", "DraftRefused", "EngineRegistry",
    "DefinitionStore", "ProcessEngine", "StepResult",
]
