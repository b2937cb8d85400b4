// Reading and writing the project's extension properties on a diagram element
// (docs/designers.md): <spiffworkflow:properties><spiffworkflow:property name= value=/>, and the
// service task's <spiffworkflow:serviceTaskOperator id= resultVariable=>. Every write goes
// through `modeling`, so it is one undoable step of the command stack.
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

const PROPERTIES = 'spiffworkflow:Properties';
const PROPERTY = 'spiffworkflow:Property';
const OPERATOR = 'spiffworkflow:ServiceTaskOperator';

function extensionValues(bo) {
  return (bo.extensionElements && bo.extensionElements.get('values')) || [];
}

function propertiesOf(bo) {
  return extensionValues(bo).find((v) => is(v, PROPERTIES));
}

export function getProperty(element, name) {
  const props = propertiesOf(getBusinessObject(element));
  const prop = props && props.get('properties').find((p) => p.name === name);
  return prop ? prop.value || '' : '';
}

function ensureExtensions(element, bpmnFactory, modeling) {
  const bo = getBusinessObject(element);
  if (!bo.extensionElements) {
    const ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  return bo.extensionElements;
}

// An empty value removes the property: an unset optional property is absent, not "".
export function setProperty(element, name, value, { bpmnFactory, modeling }) {
  const bo = getBusinessObject(element);
  let props = propertiesOf(bo);
  if (!value) {
    if (!props) return;
    const kept = props.get('properties').filter((p) => p.name !== name);
    modeling.updateModdleProperties(element, props, { properties: kept });
    return;
  }
  const ext = ensureExtensions(element, bpmnFactory, modeling);
  if (!props) {
    props = bpmnFactory.create(PROPERTIES, { properties: [] });
    modeling.updateModdleProperties(element, ext, { values: [...ext.get('values'), props] });
  }
  const existing = props.get('properties').find((p) => p.name === name);
  if (existing) {
    modeling.updateModdleProperties(element, existing, { value });
  } else {
    const prop = bpmnFactory.create(PROPERTY, { name, value });
    modeling.updateModdleProperties(element, props, { properties: [...props.get('properties'), prop] });
  }
}

export function getOperator(element) {
  return extensionValues(getBusinessObject(element)).find((v) => is(v, OPERATOR));
}

export function setOperator(element, values, { bpmnFactory, modeling }) {
  const existing = getOperator(element);
  if (existing) {
    modeling.updateModdleProperties(element, existing, values);
    return;
  }
  const ext = ensureExtensions(element, bpmnFactory, modeling);
  const operator = bpmnFactory.create(OPERATOR, {
    resultVariable: 'apply_result', ...values,
    parameterList: bpmnFactory.create('spiffworkflow:Parameters', { parameters: [] }),
  });
  modeling.updateModdleProperties(element, ext, { values: [...ext.get('values'), operator] });
}

export function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}
