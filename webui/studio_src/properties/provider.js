// The properties panel's 审批属性 group: the project's extension properties of user tasks,
// lanes, end events, service tasks and timer events (docs/designers.md), each a select whose
// choices come from the server's running registry and catalog (the `studioChoices` service,
// filled from /studio/api/choices) and, for forms, from the bundle being edited. A value the
// diagram already holds but the server does not know is kept and shown as 未注册, so opening an
// old diagram never silently rewrites it.
import { SelectEntry, TextFieldEntry, isSelectEntryEdited, isTextFieldEntryEdited } from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { jsx } from '@bpmn-io/properties-panel/preact/jsx-runtime';
import { is } from 'bpmn-js/lib/util/ModelUtil';

import { getOperator, getProperty, setOperator, setProperty, timerDefinition } from '../extensions';

const NONE = { value: '', label: '（未设置）' };

function withCurrent(options, current) {
  const list = [NONE, ...options];
  if (current && !options.some((o) => o.value === current)) {
    list.push({ value: current, label: `${current}（未注册）` });
  }
  return list;
}

// One select bound to a spiffworkflow:property of the element.
function propertySelect(name, label, optionsOf, description) {
  function PropertySelect(props) {
    const { element, id } = props;
    const bpmnFactory = useService('bpmnFactory');
    const modeling = useService('modeling');
    const choices = useService('studioChoices');
    const debounce = useService('debounceInput');
    return jsx(SelectEntry, {
      element, id, label, description, debounce,
      getValue: () => getProperty(element, name),
      setValue: (value) => setProperty(element, name, value, { bpmnFactory, modeling }),
      getOptions: () => withCurrent(optionsOf(choices), getProperty(element, name)),
    });
  }
  return PropertySelect;
}

const FormKey = propertySelect('formKey', '表单（formKey）', (c) => c.formOptions(), '本流程包中的表单文件');
const Candidates = propertySelect('candidates', '候选规则（candidates）', (c) => c.candidates);
const Claim = propertySelect('claim', '签收（claim）', (c) => c.claims);
const Status = propertySelect('status', '申请状态（status）', (c) => c.statuses);
const StatusOnReturn = propertySelect('statusOnReturn', '再次到达时的状态（statusOnReturn）', (c) => c.statuses);
const Due = propertySelect('due', '办理期限（due）', (c) => c.dues);
const DueRestart = propertySelect('due_restart', '退回后重新计时（due_restart）', (c) => c.dueRestarts);

function OperatorSelect(props) {
  const { element, id } = props;
  const bpmnFactory = useService('bpmnFactory');
  const modeling = useService('modeling');
  const choices = useService('studioChoices');
  const debounce = useService('debounceInput');
  const current = () => (getOperator(element) || {}).id || '';
  return jsx(SelectEntry, {
    element, id, label: '操作（operator）', debounce,
    getValue: current,
    setValue: (value) => setOperator(element, { id: value }, { bpmnFactory, modeling }),
    getOptions: () => withCurrent(choices.operators, current()),
  });
}

function ResultVariable(props) {
  const { element, id } = props;
  const bpmnFactory = useService('bpmnFactory');
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return jsx(TextFieldEntry, {
    element, id, label: '结果变量（resultVariable）', debounce,
    description: '网关条件读取的变量名，如 apply_result',
    getValue: () => (getOperator(element) || {}).resultVariable || '',
    setValue: (value) => setOperator(element, { resultVariable: value || undefined }, { bpmnFactory, modeling }),
  });
}

const TIMER_KINDS = [{ value: 'timeDate', label: '时间点（timeDate）' }, { value: 'timeDuration', label: '时长（timeDuration）' }];

function timerKind(definition) {
  return TIMER_KINDS.map((k) => k.value).find((k) => definition.get(k)) || '';
}

function TimerExpression(props) {
  const { element, id } = props;
  const bpmnFactory = useService('bpmnFactory');
  const modeling = useService('modeling');
  const choices = useService('studioChoices');
  const debounce = useService('debounceInput');
  const definition = timerDefinition(element);
  const value = () => {
    const kind = timerKind(definition);
    return kind ? `${kind}|${definition.get(kind).body || ''}` : '';
  };
  const setValue = (choice) => {
    const [kind, body] = choice ? choice.split('|') : ['', ''];
    const update = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
    if (kind) update[kind] = bpmnFactory.create('bpmn:FormalExpression', { body });
    modeling.updateModdleProperties(element, definition, update);
  };
  const options = () => {
    const list = choices.timers.map((t) => ({ value: `${t.kind}|${t.expression}`, label: t.label }));
    const current = value();
    if (current && !list.some((o) => o.value === current)) list.push({ value: current, label: `${current.split('|')[1]}（自定义）` });
    return [NONE, ...list];
  };
  return jsx(SelectEntry, { element, id, label: '定时表达式', debounce, getValue: value, setValue, getOptions: options });
}

function entriesOf(element) {
  const entry = (id, component, isEdited = isSelectEntryEdited) => ({ id, element, component, isEdited });
  if (is(element, 'bpmn:UserTask')) {
    return [entry('formKey', FormKey), entry('candidates', Candidates), entry('claim', Claim),
      entry('status', Status), entry('statusOnReturn', StatusOnReturn), entry('due', Due),
      entry('due_restart', DueRestart)];
  }
  if (is(element, 'bpmn:Lane')) return [entry('candidates', Candidates)];
  if (is(element, 'bpmn:EndEvent')) return [entry('status', Status)];
  if (is(element, 'bpmn:ServiceTask')) {
    return [entry('operator', OperatorSelect), entry('resultVariable', ResultVariable, isTextFieldEntryEdited)];
  }
  if (is(element, 'bpmn:Event') && timerDefinition(element)) return [entry('timer', TimerExpression)];
  return [];
}

export default function ProjectPropertiesProvider(propertiesPanel) {
  propertiesPanel.registerProvider(500, this);
}
ProjectPropertiesProvider.$inject = ['propertiesPanel'];

ProjectPropertiesProvider.prototype.getGroups = function getGroups(element) {
  return (groups) => {
    const entries = entriesOf(element);
    // the generic timer group would let anyone type any expression: ours offers the known ones
    const kept = timerDefinition(element) ? groups.filter((g) => g.id !== 'timer') : groups;
    if (entries.length) kept.splice(1, 0, { id: 'project', label: '审批属性', entries });
    return kept;
  };
};
