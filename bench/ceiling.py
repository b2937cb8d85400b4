"""Engine ceiling: the unlock diagram driven by SpiffWorkflow alone, in memory.

Each action does what the application does with the workflow: ``start`` builds and
serializes it; ``report`` and ``approve`` deserialize, complete the ready user task, run
the engine to the next wait state (approve runs the service task through a no-op
operator) and serialize again. ``save`` and ``claim`` do not touch the workflow in the
application either, so they cost nothing here.
"""
import json
import time
from pathlib import Path

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.serialization import dump_state, load_state
from engine.timers import TimerFunctionsMixin
from engine.validation import parse_bpmn

BPMN = Path(__file__).resolve().parent.parent / "bpmn" / "personnel_unlock.bpmn"


class _NoopServiceEngine(TimerFunctionsMixin, PythonScriptEngine):
    def __init__(self):
        super().__init__(environment=TaskDataEnvironment())

    def call_service(self, task, operation_name=None, operation_params=None, **_):
        return json.dumps({"applied": True, "message": "ok"})


def _complete_ready(state, parsed, engine, data):
    wf = load_state(state, parsed.spec, parsed.subprocess_specs)
    wf.script_engine = engine
    [task] = wf.get_tasks(state=TaskState.READY, manual=True)
    task.set_data(**data)
    task.run()
    wf.do_engine_steps()
    return wf, dump_state(wf)


def lifecycle(parsed, engine) -> bool:
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs)          # start
    wf.script_engine = engine
    wf.do_engine_steps()
    state = dump_state(wf)
    _, state = _complete_ready(state, parsed, engine, {"action": "report"})        # report
    wf, state = _complete_ready(state, parsed, engine, {"decision": "approve"})    # approve + service task
    return wf.is_completed()


def run(lifecycles: int, seconds: float | None = None) -> dict:
    parsed = parse_bpmn(BPMN.read_bytes(), BPMN.name, None)
    engine = _NoopServiceEngine()
    for _ in range(min(20, lifecycles)):   # warm-up
        assert lifecycle(parsed, engine)
    done, t0 = 0, time.perf_counter()
    while done < lifecycles or (seconds and time.perf_counter() - t0 < seconds):
        if not lifecycle(parsed, engine):
            raise AssertionError("the in-memory lifecycle did not complete")
        done += 1
    elapsed = time.perf_counter() - t0
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs)
    wf.script_engine = engine
    wf.do_engine_steps()
    return {"lifecycles": done, "seconds": elapsed, "per_second": done / elapsed,
            "state_bytes": len(dump_state(wf).encode())}
