"""The engine registry the domain's modules register with (operators, candidate rules, job
handlers, incident listeners), kept apart from the process modules so that a module they
import (the message centre) can register too without importing them."""
from engine import EngineRegistry

from .models import APPLICATION_STATUS

registry = EngineRegistry(
    statuses=set(APPLICATION_STATUS.values()),
    # versions deployed before diagrams declared statuses keep running: the shipped elements' statuses
    legacy_statuses={"Task_Edit": ("草稿", "已退回"), "Task_Review": ("待审核", None),
                     "End_Done": ("已办结", None), "End_Withdrawn": ("已撤回", None)})
