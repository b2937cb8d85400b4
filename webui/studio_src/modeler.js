// The studio's editor page: the bundle (diagram + form files) of a version or of the draft in a
// bpmn-js modeler with the properties panel, and the toolbar's commands — 保存草稿, 检查,
// 运行测试, 部署 — each one call to the server, which decides (the page never deploys anything
// the server has not checked).
import BpmnModeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';

import { getJSON, postForm, postJSON } from './api';
import { selectElement, showProblems } from './check';
import { FormDesigner } from './formdesigner';
import ProjectPropertiesModule from './properties';
import { ScenarioFiles } from './scenariofiles';
import { showScenarios } from './scenarios';
import { say } from './status';
import spiffworkflow from './spiffworkflow.json';
import translateModule from './translate';

export function createModeler(container, panel, choices) {
  return new BpmnModeler({
    container,
    // the 审批属性 group open at once: it is what a designer of this project edits most
    propertiesPanel: { parent: panel, layout: { groups: { project: { open: true } } } },
    additionalModules: [
      BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, ProjectPropertiesModule, translateModule,
      { studioChoices: ['value', choices] },
    ],
    moddleExtensions: { spiffworkflow },
  });
}

function choicesWith(server, bundle) {
  return {
    ...server,
    // forms come from the bundle being edited: a form added in 表单 is offered at once
    formOptions: () => Object.entries(bundle.forms).sort()
      .map(([key, form]) => ({ value: key, label: `${form.title || key}（${key}）` })),
  };
}

export async function startModeler(root) {
  const api = root.dataset.api;
  const [server, bundle] = await Promise.all([getJSON(`${api}/choices`), getJSON(`${api}/bundle${location.search}`)]);
  const modeler = createModeler(root.querySelector('#studio-canvas'), root.querySelector('#studio-properties'),
    choicesWith(server, bundle));
  window.studioModeler = modeler;   // the browser tests and the console reach the editor through it
  await modeler.importXML(bundle.xml);
  modeler.get('canvas').zoom('fit-viewport');
  const designer = new FormDesigner(root.querySelector('#studio-forms'), bundle.forms, root.dataset.preview);
  let dirty = false;
  const changed = () => { dirty = true; say('有未保存的修改'); };
  const tests = new ScenarioFiles(root.querySelector('#studio-scenario-files'), bundle.scenarios || {}, changed);
  const current = async () => ({
    xml: (await modeler.saveXML({ format: true })).xml, forms: designer.forms, scenarios: tests.files,
  });
  const problems = root.querySelector('#studio-problems');
  const scenarios = root.querySelector('#studio-scenarios');
  modeler.on('commandStack.changed', changed);
  designer.onChange = changed;
  window.addEventListener('beforeunload', (e) => { if (dirty) e.preventDefault(); });

  const act = (id, work) => root.querySelector(id).addEventListener('click', async () => {
    try { await work(); } catch (e) { say(e.message, 'error'); if (e.body && e.body.problems) showProblems(modeler, e.body.problems, problems); }
  });
  act('#studio-save', async () => {
    const saved = await postJSON(`${api}/draft`, await current());
    dirty = false;
    say(saved.message, 'success');
  });
  act('#studio-check', async () => {
    const result = await postJSON(`${api}/check`, await current());
    showProblems(modeler, result.problems, problems);
    say(result.problems.length ? `发现 ${result.problems.length} 个问题` : '检查通过', result.problems.length ? 'error' : 'success');
  });
  act('#studio-test', async () => {
    const result = await postJSON(`${api}/tests`, await current());
    showScenarios(modeler, result.scenarios, scenarios);
    const failed = result.scenarios.filter((s) => !s.passed).length;
    say(failed ? `${failed} 个测试场景未通过` : `${result.scenarios.length} 个测试场景全部通过`, failed ? 'error' : 'success');
  });
  act('#studio-deploy', async () => {
    const note = root.querySelector('#studio-note');
    if (!note.value.trim()) { note.focus(); throw new Error('部署说明：请填写本次修改的说明'); }
    const deployed = await postJSON(`${api}/deploy`, { ...(await current()), note: note.value });
    dirty = false;
    showProblems(modeler, [], problems);
    say(deployed.message, 'success');
  });
  const upload = root.querySelector('#studio-upload');
  upload.addEventListener('change', async () => {
    const file = upload.files[0];
    if (!file) return;
    try {
      const data = new FormData();
      data.append('file', file);
      const result = await postForm(`${api}/upload`, data);
      await modeler.importXML(result.xml);
      modeler.get('canvas').zoom('fit-viewport');
      showProblems(modeler, result.problems, problems);
      dirty = true;
      say(result.message, result.problems.length ? 'error' : 'success');
    } catch (e) { say(e.message, 'error'); }
    upload.value = '';
  });
  root.querySelectorAll('[data-tab]').forEach((tab) => tab.addEventListener('click', () => {
    root.querySelectorAll('[data-tab]').forEach((t) => t.setAttribute('aria-selected', String(t === tab)));
    root.querySelectorAll('[data-pane]').forEach((p) => { p.hidden = p.dataset.pane !== tab.dataset.tab; });
    if (tab.dataset.tab === 'forms') designer.show();
  }));
  root.classList.add('studio-ready');
  return { modeler, designer, selectElement: (id) => selectElement(modeler, id) };
}
