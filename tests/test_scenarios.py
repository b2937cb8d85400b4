"""Process tests written by designers (handlers/scenarios.py): the shipped scenarios pass, a broken
flow is caught, a bad file is named, and nothing leaks into the serving engine."""
import shutil

from engine.bundles import Bundle
from handlers import scenarios
from handlers.services import BPMN_DIR

UNLOCK = (BPMN_DIR / "personnel_unlock.bpmn").read_text(encoding="utf-8")
REQUIRED = {  # what every shipped process is tested for
    "personnel_unlock": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml",
                         "withdraw_refused_after_claim.yaml", "recheck_fails.yaml"},
    "manager_change": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml"},
    "completion_filing": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml"},
    "permit_supplement": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml"},
    "registration_review": {"approve.yaml", "return.yaml"},
    "rectification": {"answer.yaml"},
    "project_info_change": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml"},
    "roster_change": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml"},
    "unit_change": {"approve.yaml", "return_and_report_again.yaml", "withdraw_before_claim.yaml"},
}


def test_the_shipped_scenarios_of_every_process_pass():
    results = scenarios.run_directory(BPMN_DIR)
    assert {k: {r.file for r in rows} for k, rows in results.items()} == REQUIRED
    failed = [(k, r.file, r.failures) for k, rows in results.items() for r in rows if not r.passed]
    assert failed == []
    [approve] = [r for r in results["personnel_unlock"] if r.file == "approve.yaml"]
    assert approve.path[:8] == ["Start_New", "Task_Edit", "Gateway_Submit", "Task_Review", "Gateway_Decision",
                                "Service_Apply", "Gateway_Applied", "End_Done"]
    assert {"Flow_Report", "Flow_Approve", "Flow_Applied"} <= set(approve.path)
    assert "Flow_Return" not in approve.path and "Flow_Recheck_Failed" not in approve.path


def _unlock_bundle(xml: str) -> Bundle:
    """The shipped unlock bundle (forms, scenarios) with another diagram."""
    return Bundle("personnel_unlock.bpmn", xml.encode("utf-8"), Bundle.from_directory(BPMN_DIR, "personnel_unlock.bpmn").files)


def test_a_broken_flow_is_caught_naming_the_step_and_what_differed():
    # 审核通过 and 退回 swapped: the diagram is valid, the process is wrong
    broken = (UNLOCK.replace('decision == "approve"', "@@").replace('decision == "return"', 'decision == "approve"')
              .replace("@@", 'decision == "return"'))
    results = {r.file: r for r in scenarios.run_bundle(_unlock_bundle(broken))}
    approve = results["approve.yaml"]
    assert not approve.passed
    assert approve.failures == ["第 3 步（approve）：状态应为“已办结”，实际为“已退回”",
                                "第 3 步（approve）：应停在 （无），实际停在 Task_Edit",
                                "第 3 步（approve）：办理记录最后应为 审核通过、自动解锁，实际为 签收、审核通过",
                                "第 3 步（approve）：应到达结束事件 End_Done，实际未结束"]
    assert "Flow_Return" in approve.path and "End_Done" not in approve.path
    assert not results["return_and_report_again.yaml"].passed
    assert results["withdraw_before_claim.yaml"].passed   # withdrawal does not pass the gateway


def test_a_changed_deadline_is_caught():
    shorter = UNLOCK.replace('value="5 working days"', 'value="3 working days"')
    failures = {r.file: r.failures for r in scenarios.run_bundle(_unlock_bundle(shorter))}
    assert failures["approve.yaml"][0].startswith("第 1 步（report）：期限应为 ")
    assert "（5 working days），实际为 " in failures["approve.yaml"][0]


def test_a_bad_scenario_file_is_named():
    bundle = Bundle("personnel_unlock.bpmn", UNLOCK.encode("utf-8"), {
        **Bundle.from_directory(BPMN_DIR, "personnel_unlock.bpmn").forms,
        "tests/typo.yaml": "name: x\napplication: {applicant: sg1}\nsteps:\n  - {do: report, expect: {stauts: 待审核}}\n"
                           .encode("utf-8"),
        "tests/nobody.yaml": "name: y\napplication: {applicant: nobody}\nsteps:\n  - {do: report}\n".encode("utf-8"),
        "tests/broken.json": b"{",
    })
    results = {r.file: r.failures for r in scenarios.run_bundle(bundle)}
    assert results["typo.yaml"] == ["typo.yaml 第 1 步：expect 中未知的键 “stauts”（可用：status、waiting_at、offered_to、"
                                    "due、log、end、incident）"]
    assert results["nobody.yaml"] == ["application：测试数据中没有登录名 nobody"]
    assert results["broken.json"][0].startswith("broken.json：无法读取")


def test_a_stated_operator_outcome_stays_in_the_throwaway_run(services):
    real = services.engine.registry.operators["unlock.apply"]
    bundle = Bundle.from_directory(BPMN_DIR, "personnel_unlock.bpmn")
    recheck = scenarios.run_one(bundle, "recheck_fails.yaml", bundle.files["tests/recheck_fails.yaml"])
    assert recheck.passed and "Flow_Recheck_Failed" in recheck.path
    assert services.engine.registry.operators["unlock.apply"] is real


def test_flask_bpmn_test_runs_a_folder_and_fails_on_a_broken_scenario(ctx, tmp_path):
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["bpmn", "test", "personnel_unlock"])
    assert result.exit_code == 0, result.output
    assert "✓ personnel_unlock/approve.yaml: 上报后由监督机构审核通过，人员解锁" in result.output
    assert "5 scenario(s), 0 failed" in result.output
    folder = tmp_path / "bpmn"
    shutil.copytree(BPMN_DIR, folder)
    scenario = folder / "tests" / "personnel_unlock" / "approve.yaml"
    scenario.write_text(scenario.read_text(encoding="utf-8").replace("status: 已办结", "status: 已撤回"),
                        encoding="utf-8")
    result = runner.invoke(args=["bpmn", "test", "personnel_unlock", "--dir", str(folder)])
    assert result.exit_code == 1
    assert "第 3 步（approve）：状态应为“已撤回”，实际为“已办结”" in result.output
