"""The drawing checks (engine/diagram_checks.py) and the diagrams the docs point to."""
import re
from pathlib import Path

from lxml import etree

from engine.validation import BPMN_NS
from handlers import scenarios
from handlers.services import BPMN_DIR

ROOT = Path(__file__).resolve().parent.parent
SITE_CHECK = Path(__file__).parent / "bpmn_site_check"
EXAMPLE = SITE_CHECK / "personnel_unlock.bpmn"


def _check(services, xml: str, tmp_path) -> list[tuple[str, str]]:
    folder = tmp_path / "diagram"
    folder.mkdir(exist_ok=True)
    (folder / "forms").mkdir(exist_ok=True)
    (folder / "forms" / "site_check.json").write_bytes((SITE_CHECK / "forms" / "site_check.json").read_bytes())
    path = folder / "personnel_unlock.bpmn"
    path.write_text(xml, encoding="utf-8")
    return [(e.element_id, e.reason) for e in services.engine.definitions.check_file(path)]


def _edge(xml: str, flow: str, points: list[tuple[int, int]]) -> str:
    waypoints = "".join(f'\n        <di:waypoint x="{x}" y="{y}" />' for x, y in points)
    return re.sub(rf'(<bpmndi:BPMNEdge id="{flow}_di" bpmnElement="{flow}">).*?(\s*</bpmndi:BPMNEdge>)',
                  rf"\1{waypoints}\2", xml, flags=re.S)


def test_a_flow_retargeted_with_its_old_edge_kept_is_refused_naming_the_flow(services, tmp_path):
    # 上报 goes to the new 现场核查 step in the XML, but its arrow still ends on 审核
    stale = _edge(EXAMPLE.read_text(encoding="utf-8"), "Flow_Report", [(485, 215), (485, 510), (560, 510)])
    problems = _check(services, stale, tmp_path)
    assert [eid for eid, _ in problems] == ["Flow_Report"]
    [(_, reason)] = problems
    assert "连线 “上报”（Flow_Report）的连线与流程不一致" in reason
    assert "终点应连到元素 “现场核查”（Task_SiteCheck），但图中画在元素 “审核”（Task_Review）上" in reason
    with services.engine.command():
        report = services.engine.definitions.deploy_directory(tmp_path / "diagram")
    assert [e.element_id for e in report.refused] == ["Flow_Report"] and report.deployed == []
    assert services.engine.definitions.latest("personnel_unlock").version == 1


def test_an_edge_starting_nowhere_is_refused(services, tmp_path):
    loose = _edge(EXAMPLE.read_text(encoding="utf-8"), "Flow_Review", [(900, 900), (720, 510)])
    [(eid, reason)] = _check(services, loose, tmp_path)
    assert eid == "Flow_Review" and "起点应连到元素 “审核”（Task_Review），但图中没有连到任何元素" in reason


def test_a_task_drawn_outside_the_lane_that_names_it_is_refused(services, tmp_path):
    xml = EXAMPLE.read_text(encoding="utf-8")
    # 现场核查 (and its edges) drawn in the applicant's lane while Lane_site_check names it
    moved = xml.replace('<dc:Bounds x="435" y="310" width="100" height="80" />',
                        '<dc:Bounds x="560" y="150" width="100" height="80" />')
    problems = _check(services, moved, tmp_path)
    assert ("Task_SiteCheck", "元素 “现场核查”（Task_SiteCheck）属于泳道 “现场核查（监督机构）”，但图中不在该泳道内："
            "请把它拖入泳道，或改正泳道的 flowNodeRef") in problems


def test_a_flow_node_without_a_shape_is_refused(services, tmp_path):
    xml = EXAMPLE.read_text(encoding="utf-8")
    no_shape = re.sub(r'<bpmndi:BPMNShape id="Task_SiteCheck_di".*?</bpmndi:BPMNShape>', "", xml, flags=re.S)
    problems = _check(services, no_shape, tmp_path)
    assert ("Task_SiteCheck", "缺少图形信息（BPMNDI），建模工具无法显示该元素") in problems


def _documented_diagrams() -> list[Path]:
    """Every .bpmn file or diagram folder the README and docs/ name."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    found = set()
    for ref in re.findall(r"`?((?:tests/|bpmn)[\w/.-]*)`?", text):
        path = ROOT / ref.rstrip("/.")
        if path.suffix == ".bpmn" and path.is_file():
            found.add(path)
        elif path.is_dir():
            found.update(path.glob("*.bpmn"))
    return sorted(found)


def test_every_diagram_the_docs_point_to_passes_the_check(services):
    diagrams = _documented_diagrams()
    assert EXAMPLE in diagrams and BPMN_DIR / "personnel_unlock.bpmn" in diagrams
    assert len([d for d in diagrams if d.parent == BPMN_DIR]) == 9
    for path in diagrams:
        assert services.engine.definitions.check_file(path) == [], path


def _elements(path: Path) -> dict[str, bytes]:
    root = etree.parse(str(path)).getroot()
    process = root.find(f"{{{BPMN_NS}}}process")
    return {el.get("id"): etree.tostring(el) for el in process.iter() if el.get("id")}


def test_the_site_check_example_is_the_current_unlock_diagram_plus_its_step():
    """Copying the example keeps withdrawal, both deadline timers and the lane rules."""
    current, example = _elements(BPMN_DIR / "personnel_unlock.bpmn"), _elements(EXAMPLE)
    assert set(current) <= set(example)
    assert set(example) - set(current) == {"Lane_site_check", "Task_SiteCheck", "Message_SiteCheck_Withdraw",
                                           "MessageDef_SiteCheck_Withdraw", "Flow_Withdraw_SiteCheck",
                                           "Flow_SiteCheck"}
    for kept in ("Message_Review_Withdraw", "Timer_Review_Reminder", "Timer_Review_Overdue", "Service_Reminder",
                 "Service_Overdue", "End_Escalated", "End_Reminded"):
        assert example[kept] == current[kept], kept


def test_the_site_check_example_passes_its_process_tests():
    results = scenarios.run_directory(SITE_CHECK)["personnel_unlock"]
    assert [(r.file, r.passed, r.failures) for r in results] == [
        ("site_check_then_approve.yaml", True, []), ("withdraw_before_site_check.yaml", True, [])]
    withdrawn = results[1]
    assert {"Task_SiteCheck", "Message_SiteCheck_Withdraw", "End_Withdrawn", "Flow_Withdraw_SiteCheck"} \
        <= set(withdrawn.path)
