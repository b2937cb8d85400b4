"""The stored workflow state format (engine/serialization.py subclasses SpiffWorkflow's serializer
internals, so SpiffWorkflow is pinned to the tested minor version in pyproject.toml).

``tests/state_format/`` holds a state written by the current format with the diagram it ran on:
an instance of the unlock process waiting at its review task. A SpiffWorkflow upgrade that changes
the format, or a change of the converter, fails here before it meets stored instances.
"""
import json
from importlib.metadata import version
from pathlib import Path

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.serialization import SERIALIZER, dump_state, load_state
from engine.validation import parse_bpmn

FIXTURES = Path(__file__).parent / "state_format"
STORED = FIXTURES / "personnel_unlock.at_review.json"


def _spec():
    return parse_bpmn((FIXTURES / "personnel_unlock.bpmn").read_bytes(), "personnel_unlock.bpmn", None)


def _ready(wf) -> list[str]:
    return [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.manual]


def _complete(wf, element_id, **data):
    [task] = [t for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.bpmn_id == element_id]
    task.set_data(**data)
    task.run()
    wf.do_engine_steps()


def test_serialize_deserialize_serialize_is_identical():
    parsed = _spec()
    wf = BpmnWorkflow(parsed.spec, parsed.subprocess_specs)
    wf.do_engine_steps()
    for step in (None, ("Task_Edit", {"action": "report"}), ("Task_Review", {"decision": "return"})):
        if step:
            _complete(wf, step[0], **step[1])
        first = dump_state(wf)
        again = dump_state(load_state(first, parsed.spec, parsed.subprocess_specs))
        assert again == first
        assert "spec" not in json.loads(first)   # the spec is not stored with the instance


def test_a_stored_state_of_the_current_format_loads_and_runs_on():
    parsed = _spec()
    stored = STORED.read_text(encoding="utf-8")
    assert json.loads(stored)["serializer_version"] == SERIALIZER.VERSION
    wf = load_state(stored, parsed.spec, parsed.subprocess_specs)
    assert _ready(wf) == ["Task_Review"]
    [review] = wf.get_tasks(state=TaskState.READY, spec_name="Task_Review")
    assert review.data["action"] == "report"          # the task data came back too
    assert dump_state(wf) == stored                   # read and written back unchanged
    _complete(wf, "Task_Review", decision="return")   # and it runs on: back to the applicant
    assert _ready(wf) == ["Task_Edit"]


def test_spiffworkflow_is_the_pinned_minor_version():
    pinned = next(line for line in (Path(__file__).parent.parent / "pyproject.toml").read_text().splitlines()
                  if '"SpiffWorkflow' in line)
    assert ">=3.2" in pinned and "<3.3" in pinned
    assert version("SpiffWorkflow").startswith("3.2.")
